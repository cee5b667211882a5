--- The reference of `http` as a playbook sees it, as data (lua/migrun/docs/init.lua says how an
-- entry reads): a request to send later while the file loads (a hook), a request performed
-- at once in a step or hook function (migrun.http's for_playbook; its options: http.prepare).
return {
  name = "http",
  title = "HTTP",
  file = "http.md",
  intro = [[
A playbook talks to the application around its migration: `hooks` put it into maintenance
mode and take it out again, `notify` tells a channel, a step calls an API, `expect.http`
checks an endpoint. `http` makes the requests. What it gives depends on when it is called:
in the playbook's tables, while the file loads, a request to send later, whose options are
checked then; at run time (a Lua step, a hook function, `expect.that`), the response.

Secrets are "***" wherever a request is shown (plans, the terminal, the ledger, reports,
errors): the headers that carry credentials, whatever their origin; `env.NAME` when NAME says
it holds one; a webhook URL; whatever `http.secret` wraps. Their text goes only into the
request.]],
  option_context = { ["http.request"] = "playbook" },
  entries = {
    {
      name = "http",
      usage = { "http.METHOD(URL [, { OPTION = VALUE, ... }])", "http.METHOD { url = URL, OPTION = VALUE, ... }" },
      summary = "HTTP requests: while the playbook loads, a request to send later (a hook); at run time, " ..
                "a request performed at once, giving its response.",
      text = [[
METHOD is get, post, put, patch, delete or head; `http.request` takes the method as an option.
The options are those of `http.request`. While the file loads, a bad option or a URL that is
not http:// or https:// is an error naming the line (exit 2), and the call gives a request:
`req:send()` sends it, `req:describe()` shows it. At run time the call sends the request and
gives the response: `status`, `ok` (a 2xx status), `headers` (read in any case), `body`,
`json` (decoded when the Content-Type is JSON; else `json_error` says why not), `seconds`,
`attempts`, `method` and `url` (as it may be shown).

Any status is a response: a 5xx is retried, a 4xx is not, and redirects are not followed. A
request that gets no response raises an error of kind "http" whose `reason` is timeout,
refused, tls, dns, too_large, url or io (a timeout, a refusal and an I/O error are retried).
GET, HEAD, PUT and DELETE are retried twice by default, with backoff; POST and PATCH are not
(repeating them may repeat their effect). Ctrl-C stops a request, and its retries.]],
      index_of = "http.",
      example = [[
hooks = {
  before = http.post { url = "https://app.example.com/admin/maintenance-mode",
                       headers = { Authorization = env.APP_TOKEN }, timeout = "5s" },
  always = http.delete { url = "https://app.example.com/admin/maintenance-mode",
                         headers = { Authorization = env.APP_TOKEN } },
}]],
      see = { "playbook.hooks", "playbook.notify", "expect.http", "step" },
    },
    {
      name = "http.request",
      usage = 'http.request { url = URL, method = "GET", OPTION = VALUE, ... }',
      summary = "A request of any method (default GET), with every option the other http.METHOD take too.",
      options = {
        { "url", "URL | SECRET", "http:// or https:// (required). Shown with its user info and the values " ..
          "of secret-looking query parameters as ***; a secret URL shows only its origin.",
          'hooks = { before = http.request { url = "https://app.example.com/admin/maintenance-mode" } }' },
        { "method", "METHOD", "GET (the default), POST, PUT, PATCH, DELETE, HEAD or another word; " ..
          "http.METHOD refuses any other than its own.",
          'hooks = { before = http.request { method = "POST", url = "https://app.example.com/admin/drain" } }' },
        { "headers", "{ [NAME] = TEXT | NUMBER | SECRET }", "Request headers. Authorization, " ..
          "Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and any name holding token, secret, auth, " ..
          "api-key, apikey, password or signature are secrets whatever their value's origin.",
          'hooks = { before = http.request { url = "https://app.example.com/admin/drain",\n' ..
          '                                   headers = { Authorization = env.APP_TOKEN, ["X-Release"] = 42 } } }' },
        { "body", "TEXT | SECRET", "The request body, sent as it is (not with json).",
          'hooks = { before = http.request { method = "PUT", url = "https://app.example.com/admin/banner",\n' ..
          '                                   body = "Maintenance until 03:00 UTC" } }' },
        { "json", "VALUE", "A body encoded as JSON, with Content-Type application/json unless headers " ..
          "give one (not with body); secrets inside it are sent as their text and make the body a secret.",
          'hooks = { before = http.request { method = "POST", url = "https://app.example.com/admin/mode",\n' ..
          '                                   json = { mode = "maintenance" } } }' },
        { "query", "{ [NAME] = TEXT | NUMBER | BOOLEAN | SECRET }", "Parameters appended to the URL, " ..
          "encoded, sorted by name.",
          'hooks = { before = http.request { url = "https://app.example.com/admin/mode", query = { on = true } } }' },
        { "timeout", "DURATION", "The time an attempt may take, all of it (default 10s).",
          'hooks = { before = http.request { url = "https://app.example.com/admin/drain", timeout = "30s" } }' },
        { "connect_timeout", "DURATION", "The time an attempt may take to connect (default: only timeout " ..
          "bounds it).",
          'hooks = { before = http.request { url = "https://app.example.com/admin/drain", connect_timeout = "2s" } }' },
        { "retries", "0..20", "Attempts after the first on a timeout, a refused connection, an I/O error " ..
          "or a 5xx answer (default 2 for GET, HEAD, PUT, DELETE and OPTIONS, 0 for the others).",
          'hooks = { before = http.request { method = "POST", url = "https://app.example.com/admin/drain",\n' ..
          '                                   retries = 3 } }' },
        { "backoff", "DURATION", "The wait before the first retry (default 200ms), doubled at each one, " ..
          "at most 5s.",
          'hooks = { before = http.request { url = "https://app.example.com/admin/drain", backoff = "1s" } }' },
        { "verify", "BOOLEAN", "Check the server's TLS certificate and host name (default true).",
          'hooks = { before = http.request { url = "https://staging.example.com/admin/drain", verify = false } }' },
        { "cafile", "PATH", "The CA certificates to check the server with; a relative path is taken from " ..
          "the playbook's directory, like an sql file's. It must be readable when the playbook loads.",
          'hooks = { before = http.request { url = "https://app.internal/admin/drain",\n' ..
          '                                   cafile = "certs/internal-ca.pem" } }' },
        { "max_body", "BYTES", "The largest response body taken (default 16 MiB); a larger one is an " ..
          "error of reason too_large.",
          'hooks = { before = http.request { url = "https://app.example.com/admin/drain", max_body = 65536 } }' },
      },
      example = [[
hooks = {
  before = http.request { method = "POST", url = "https://app.example.com/admin/maintenance-mode",
                          json = { reason = "release 42" }, headers = { Authorization = env.APP_TOKEN } },
}]],
      see = { "http" },
    },
    {
      name = "http.get",
      usage = { "http.get(URL [, OPTIONS])", "http.get { url = URL, OPTION = VALUE, ... }" },
      summary = "A GET request (retried twice by default).",
      context = "phase",
      example = [[
step "the app is up" (function(db, run)
  local res = http.get("https://app.example.com/api/version", { timeout = "5s" })
  assert(res.ok, "the app answers " .. res.status)
  run.log("app version " .. tostring(res.json and res.json.version))
end)]],
      see = { "http", "http.request" },
    },
    {
      name = "http.post",
      usage = { "http.post(URL [, OPTIONS])", "http.post { url = URL, OPTION = VALUE, ... }" },
      summary = "A POST request (not retried by default: repeating it may repeat its effect).",
      example = [[
hooks = { before = http.post { url = "https://app.example.com/admin/maintenance-mode",
                               json = { on = true }, headers = { Authorization = env.APP_TOKEN } } }]],
      see = { "http", "http.request", "playbook.hooks" },
    },
    {
      name = "http.put",
      usage = { "http.put(URL [, OPTIONS])", "http.put { url = URL, OPTION = VALUE, ... }" },
      summary = "A PUT request (retried twice by default).",
      example = [[
hooks = { before = http.put { url = "https://app.example.com/admin/flags/orders_v2", json = { enabled = false } } }]],
      see = { "http", "http.request" },
    },
    {
      name = "http.patch",
      usage = { "http.patch(URL [, OPTIONS])", "http.patch { url = URL, OPTION = VALUE, ... }" },
      summary = "A PATCH request (not retried by default).",
      example = [[
hooks = { after = http.patch { url = "https://app.example.com/admin/settings", json = { read_only = false } } }]],
      see = { "http", "http.request" },
    },
    {
      name = "http.delete",
      usage = { "http.delete(URL [, OPTIONS])", "http.delete { url = URL, OPTION = VALUE, ... }" },
      summary = "A DELETE request (retried twice by default).",
      example = [[
hooks = { always = http.delete { url = "https://app.example.com/admin/maintenance-mode",
                                 headers = { Authorization = env.APP_TOKEN } } }]],
      see = { "http", "http.request", "playbook.hooks" },
    },
    {
      name = "http.head",
      usage = { "http.head(URL [, OPTIONS])", "http.head { url = URL, OPTION = VALUE, ... }" },
      summary = "A HEAD request: the status and headers, no body (retried twice by default).",
      context = "phase",
      example = [[
step "the CDN has the new assets" (function(db, run)
  local res = http.head "https://cdn.example.com/app-42.js"
  run.log("CDN: " .. res.status .. ", " .. tostring(res.headers["Content-Length"]) .. " bytes")
end)]],
      see = { "http", "http.request" },
    },
    {
      name = "http.secret",
      usage = "http.secret(TEXT)",
      summary = "TEXT (a string or a number) as a secret: \"***\" wherever it is shown, its text only in " ..
                "the request that carries it.",
      text = [[
For a credential whose name does not say it is one: `env.NAME` already gives a secret when
NAME holds TOKEN, SECRET, PASSWORD, PASSWD, KEY, WEBHOOK, AUTH or CREDENTIAL, and headers
that carry credentials are secrets whatever their value. `tostring` of a secret is "***",
and a string concatenated with one is a secret too. A secret goes where a request takes text:
url, a header, body, a query parameter, inside json. What a hook's own code raises or logs is
scrubbed of every secret the playbook holds. A secret given to http.secret is returned as it
is.]],
      example = [[
hooks = { before = http.post { url = "https://app.example.com/admin/maintenance-mode",
                               query = { sig = http.secret(env("RELEASE_SIG", "unsigned")) } } }]],
      see = { "http.is_secret", "env" },
    },
    {
      name = "http.is_secret",
      usage = "http.is_secret(VALUE)",
      summary = "true when VALUE is a secret (made by http.secret, or by env.NAME of a credential's name).",
      context = "phase",
      example = [[
step "the token is set" (function()
  assert(http.is_secret(env.APP_TOKEN), "APP_TOKEN is not set in migrun's environment")
end)]],
      see = { "http.secret" },
    },
    {
      name = "http.describe",
      usage = "http.describe(REQUEST)",
      summary = "A request as it may be shown: \"POST https://app.example.com/admin/drain " ..
                "[Authorization: ***]\".",
      text = [[
REQUEST is a request made while the playbook loaded, or the options of one (`method`
included). Secrets are "***"; a JSON body's implied Content-Type is left out.]],
      context = "phase",
      example = [[
step "drain" (function(db, run)
  local req = { method = "POST", url = "https://app.example.com/admin/drain",
                headers = { Authorization = env.APP_TOKEN } }
  run.log("calling " .. http.describe(req))
  http.request(req)
end)]],
      see = { "http.secret" },
    },
  },
}
