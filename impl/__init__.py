"""Reference server for the Dify Service API contract."""

import warnings

# Connexion 3.3 imports starlette.testclient at import time, which warns that it wants httpx2.
# The warning concerns a test helper this server never uses; keep it off the CLI's output.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
