"""recon: the Chalice application. Thin by design: blueprints, middleware and worker entry points.

Routes live in chalicelib/api (one module per resource); workers in chalicelib/workers.
"""
from chalice import Chalice

from chalicelib import observability
from chalicelib.api import auth_middleware, health

app = Chalice(app_name="recon")
app.api.binary_types = []
API_PREFIX = "/api/v1"

observability.register(app)
auth_middleware.register(app, public_paths={f"{API_PREFIX}/health", f"{API_PREFIX}/openapi.json"})

app.register_blueprint(health.bp, url_prefix=API_PREFIX)
