"""recon: the Chalice application. Thin by design: blueprints, middleware and worker entry points.

Routes live in chalicelib/api (one module per resource); worker logic in chalicelib/workers.
"""
from chalice import Chalice

from chalicelib import observability
from chalicelib.api import auth_middleware, health
from chalicelib.api import data_sources, exceptions, files, reconciliations, rule_sets, streams  # streams definitions
from chalicelib.api import stream_runs  # streams runtime
from chalicelib.api import cdc, metrics, openapi

app = Chalice(app_name="recon")
API_PREFIX = "/api/v1"
# file downloads answer bytes as their format's media type: base64 in the Lambda response (binary media types)
app.api.binary_types = [*app.api.binary_types, *files.DOWNLOAD_MEDIA_TYPES]

observability.register(app)
auth_middleware.register(app, public_paths={f"{API_PREFIX}/health", f"{API_PREFIX}/openapi.json"})

app.register_blueprint(health.bp, url_prefix=API_PREFIX)
app.register_blueprint(cdc.bp, url_prefix=API_PREFIX)
app.register_blueprint(metrics.bp, url_prefix=API_PREFIX)
app.register_blueprint(metrics.root_bp)  # GET /metrics, where Prometheus looks by default
app.register_blueprint(openapi.bp, url_prefix=API_PREFIX)
app.register_blueprint(files.bp, url_prefix=API_PREFIX)
app.register_blueprint(rule_sets.bp, url_prefix=API_PREFIX)
app.register_blueprint(data_sources.bp, url_prefix=API_PREFIX)
app.register_blueprint(streams.bp, url_prefix=API_PREFIX)
app.register_blueprint(stream_runs.bp, url_prefix=API_PREFIX)
app.register_blueprint(exceptions.bp, url_prefix=API_PREFIX)
app.register_blueprint(reconciliations.bp, url_prefix=API_PREFIX)


# ---------------------------------------------------------------------------------------- workers
def _batch(event, handle, **kw):
    from chalicelib.workers.sqs import process_batch

    return process_batch(event, handle, context=getattr(app, "lambda_context", None), **kw)


@app.on_sqs_message(queue="recon-jobs", batch_size=1)
def job_worker(event):
    from chalicelib.workers import cdc

    return _batch(event, cdc.handle_job_message)


@app.on_sqs_message(queue="recon-segments", batch_size=1)
def segment_worker(event):
    from chalicelib.workers import cdc

    return _batch(event, cdc.handle_segment_message)


@app.on_sqs_message(queue="recon-schedule", batch_size=1)
def scheduler(event):
    from chalicelib.workers import cdc

    return _batch(event, cdc.handle_schedule_event)


@app.on_sqs_message(queue="recon-maintenance", batch_size=1)
def sweeper(event):
    from chalicelib.workers import cdc

    return _batch(event, cdc.handle_maintenance_event)


@app.on_sqs_message(queue="recon-alerts", batch_size=5)
def alert_worker(event):
    from chalicelib.workers import alerts

    return _batch(event, alerts.handle_alert_message, with_receive_count=True)


@app.on_sqs_message(queue="recon-files", batch_size=1)
def file_worker(event):
    from chalicelib.workers import files as file_jobs

    return _batch(event, file_jobs.handle_file_message, with_receive_count=True)


# streams runtime: step tasks of the state machine, EVENT triggers, the schedule tick
@app.on_sqs_message(queue="recon-stream-steps", batch_size=1)
def stream_step_worker(event):
    from chalicelib.workers import streams as stream_workers

    return _batch(event, stream_workers.handle_step_message)


@app.on_sqs_message(queue="recon-stream-events", batch_size=5)
def stream_event_worker(event):
    from chalicelib.workers import streams as stream_workers

    return _batch(event, stream_workers.handle_event_message)


@app.on_sqs_message(queue="recon-stream-ticks", batch_size=1)
def stream_schedule_dispatcher(event):
    from chalicelib.workers import streams as stream_workers

    return _batch(event, stream_workers.handle_tick_message)


# Keep last: every route registered above gets the methods it lacks (405) and unknown paths a 404,
# contract-shaped, locally and behind API Gateway (chalicelib/api/core.py install_fallbacks).
from chalicelib.api.core import install_fallbacks  # noqa: E402

install_fallbacks(app)
