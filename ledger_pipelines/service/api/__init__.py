"""The HTTP API of ``subledger serve`` (FastAPI on uvicorn): :func:`ledger_pipelines.service.api.app.create_app`."""
