"""HTTP: the Starlette app built from the contract, one handler per operation, the control
API's routes, the CDN, the SSE response, the uvicorn server and the in-process transports.
"""
