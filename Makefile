# recon — the two commands that matter: `make up` (whole local stack with demo data) and `make test`.
.PHONY: up down status demo test unit bench logs package migrate

up:        ## start the whole local stack (idempotent; demo data loaded on the first start only)
	@bash scripts/stack.sh up

demo:      ## reload the demo data (truncates and refills the demo tables) on the running stack
	@bash scripts/stack.sh demo

down:      ## stop exactly what `make up` started
	@bash scripts/stack.sh down

status:    ## what is running
	@bash scripts/stack.sh status

test:      ## set up and run unit, integration, end-to-end, fault-injection, API fuzz and browser tests
	@bash scripts/test.sh

unit:      ## unit tests only (no stack needed)
	@.venv/bin/python -m pytest -q tests/unit

bench:     ## benchmarks (see README "Performance")
	@bash scripts/bench.sh

migrate:   ## apply database migrations to DATABASE_URL
	@.venv/bin/python -m chalicelib.db.migrate

package:   ## CloudFormation/SAM package for real AWS, with infra/ merged
	@bash infra/package.sh
