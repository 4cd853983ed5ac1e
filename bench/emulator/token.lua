-- POST /oauth/token, client-credentials grant, form-encoded as most SDKs send it.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=bench-m2m&client_secret=bench-secret"
  .. "&audience=https%3A%2F%2Fbench.auth0.test%2Fapi%2Fv2%2F"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
