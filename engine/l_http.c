/*
** l_http.c: migrun.core.http, the binding of http.c (checks, conversion, errors; no policy).
** http.request{...} runs one request: any status is a response, only a transfer that got no
** response raises. Retries, JSON, secrets and messages live in lua/migrun/http.lua.
*/
#include <ctype.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "http.h"
#include "l_mr.h"
#include "mr.h"

#define MR_HTTP_BOX_MT "migrun.http.transfer"

/* What a request owns in C while Lua may still raise: its response buffers. Created zeroed
** before the transfer; __gc frees whatever is left. */
typedef struct {
    mr_http_response res;
} l_box;

static const char *const reasons[] = {
    [MR_HTTP_OK] = "ok",
    [MR_HTTP_TIMEOUT] = "timeout",
    [MR_HTTP_REFUSED] = "refused",
    [MR_HTTP_TLS] = "tls",
    [MR_HTTP_DNS] = "dns",
    [MR_HTTP_INTERRUPTED] = "interrupted",
    [MR_HTTP_TOO_LARGE] = "too_large",
    [MR_HTTP_URL] = "url",
    [MR_HTTP_IO] = "io",
};

/* __gc of a box: frees the buffers (idempotent). Never raises. */
static int l_box_gc(lua_State *L)
{
    l_box *b = luaL_checkudata(L, 1, MR_HTTP_BOX_MT);
    mr_http_response_free(&b->res);
    return 0;
}

/* An HTTP token (a method or header name): RFC 9110's tchar, at least one. */
static int is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
            return 0;
    }
    return 1;
}

/* opts[key] as a string without NUL bytes (anchored by opts), or NULL when nil */
static const char *opt_cstring(lua_State *L, int opts, const char *key)
{
    const char *s = NULL;
    size_t len;
    int t = lua_getfield(L, opts, key);
    if (t != LUA_TNIL) {
        if (t != LUA_TSTRING) /* a number would convert on the stack only, then dangle */
            luaL_error(L, "http.request: %s must be a string (got a %s)", key,
                       luaL_typename(L, -1));
        s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len)
            luaL_error(L, "http.request: %s holds a NUL byte", key);
    }
    lua_pop(L, 1);
    return s;
}

static int64_t opt_ms(lua_State *L, int opts, const char *key)
{
    lua_getfield(L, opts, key);
    lua_Integer v = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (v < 0 || v > 86400000)
        luaL_error(L, "http.request: %s must be between 0 and 86400000 ms", key);
    return (int64_t)v;
}

/* opts.headers = {[name] = value} -> NULL-terminated "Name: value" lines, anchored on the
** stack (a table of strings, then the array's userdata), or NULL when absent. */
static const char *const *check_headers(lua_State *L, int opts)
{
    if (lua_getfield(L, opts, "headers") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    int t = lua_gettop(L); // [.., headers]
    luaL_argexpected(L, lua_istable(L, t), opts, "headers table");
    lua_newtable(L); // [.., headers, lines]
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) { // [.., headers, lines, k, v]
        size_t klen, vlen;
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "http.request: header names must be strings (got a %s)",
                       luaL_typename(L, -2));
        const char *k = lua_tolstring(L, -2, &klen);
        if (!is_token(k, klen))
            luaL_error(L, "http.request: bad header name '%s'", k);
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "http.request: header %s must be a string (got a %s)", k,
                       luaL_typename(L, -1));
        const char *v = lua_tolstring(L, -1, &vlen); /* a number converts in place: fine for
                                                     ** a value, never done to the key */
        if (strcspn(v, "\r\n") != vlen)
            luaL_error(L, "http.request: header %s holds a line break or NUL byte", k);
        /* "Name;" is curl's way to send a header with an empty value */
        if (vlen == 0)
            lua_pushfstring(L, "%s;", k);
        else
            lua_pushfstring(L, "%s: %s", k, v);
        lua_rawseti(L, t + 1, ++n); // [.., headers, lines, k, v]
        lua_pop(L, 1);              // [.., headers, lines, k]
    }
    const char **lines = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *lines, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, t + 1, i);
        lines[i - 1] = lua_tostring(L, -1); /* anchored by the lines table */
        lua_pop(L, 1);
    }
    lines[n] = NULL;
    return lines; // [.., headers, lines, array] stay
}

/* The header block ("Name: value\r\n" lines) as a table of lowercased names; a repeated
** header's values are joined with ", " (RFC 9110 5.3). Pushes the table. */
static void push_headers(lua_State *L, const char *p, size_t len)
{
    lua_newtable(L); // [.., h]
    const char *end = p + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *colon = memchr(p, ':', (size_t)((eol ? eol : end) - p));
        if (colon != NULL && colon > p) {
            const char *v = colon + 1, *ve = eol ? eol : end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            luaL_Buffer b;
            luaL_buffinit(L, &b); // [.., h, (buffer)]
            for (const char *c = p; c < colon; c++)
                luaL_addchar(&b, (char)tolower((unsigned char)*c));
            luaL_pushresult(&b);                         // [.., h, name]
            lua_pushvalue(L, -1);                        // [.., h, name, name]
            if (lua_rawget(L, -3) == LUA_TSTRING) {      // [.., h, name, old]
                lua_pushliteral(L, ", ");                // [.., h, name, old, ", "]
                lua_pushlstring(L, v, (size_t)(ve - v)); // [.., h, name, old, ", ", v]
                lua_concat(L, 3);                        // [.., h, name, old..", "..v]
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v)); // [.., h, name, v]
            }
            lua_rawset(L, -3); // [.., h]
        }
        p = next;
    }
}

/* Push url redacted (mr_http_url_redact) */
static void push_redacted(lua_State *L, const char *url)
{
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, MR_HTTP_REDACT_SIZE(strlen(url)));
    luaL_pushresultsize(&b, mr_http_url_redact(url, p));
}

/* Raise what a failed transfer left in b: kind "http" (or "interrupted") with reason, method,
** url (redacted), message ("METHOD url: what curl said"), curl_message, curl_code, seconds. */
static int raise_failure(lua_State *L, l_box *b, const char *method, const char *url)
{
    mr_http_response *r = &b->res;
    int interrupted = r->failure == MR_HTTP_INTERRUPTED;
    mr_l_push_error(L, interrupted ? "interrupted" : "http", NULL); // [.., err]
    lua_pushstring(L, reasons[r->failure]);
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, r->error);
    lua_setfield(L, -2, "curl_message");
    lua_pushinteger(L, r->curl_code);
    lua_setfield(L, -2, "curl_code");
    lua_pushnumber(L, r->seconds);
    lua_setfield(L, -2, "seconds");
    push_redacted(L, url);                                                  // [.., err, url]
    lua_pushfstring(L, "%s %s: %s", method, lua_tostring(L, -1), r->error); // [.., err, url, msg]
    lua_setfield(L, -3, "message");                                         // [.., err, url]
    lua_setfield(L, -2, "url");                                             // [.., err]
    mr_http_response_free(r); /* the error holds copies of all it needs */
    return lua_error(L);
}

/* http.request{method = "GET", url =, headers = {[name] = value}, body =, timeout_ms =,
** connect_timeout_ms =, verify = true, cafile =, max_body =} -> {status, headers = {[lowercase
** name] = value}, body, seconds}. Any status is a response. Raises migrun.error kind "http"
** (reason timeout|refused|tls|dns|too_large|url|io) or kind "interrupted" when no response
** arrived; a bad argument raises a plain error. The C buffers live in a box __gc reaches. */
static int l_http_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    mr_http_request req = {0};
    req.method = opt_cstring(L, 1, "method");
    if (req.method == NULL)
        req.method = "GET";
    luaL_argcheck(L, is_token(req.method, strlen(req.method)), 1, "bad method");
    req.url = opt_cstring(L, 1, "url");
    luaL_argcheck(L, req.url != NULL && req.url[0] != '\0', 1, "url is required");
    req.cafile = opt_cstring(L, 1, "cafile");
    if (lua_getfield(L, 1, "body") != LUA_TNIL) {
        luaL_argexpected(L, lua_type(L, -1) == LUA_TSTRING, 1, "body string");
        req.body = lua_tolstring(L, -1, &req.body_len); /* anchored by opts */
    }
    lua_pop(L, 1);
    req.timeout_ms = opt_ms(L, 1, "timeout_ms");
    req.connect_timeout_ms = opt_ms(L, 1, "connect_timeout_ms");
    int verify = lua_getfield(L, 1, "verify");
    luaL_argexpected(L, verify == LUA_TNIL || verify == LUA_TBOOLEAN, 1, "verify boolean");
    req.insecure = verify == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "max_body");
    lua_Integer max_body = luaL_optinteger(L, -1, 0);
    luaL_argcheck(L, max_body >= 0, 1, "max_body must not be negative");
    req.max_body = (size_t)max_body;
    lua_pop(L, 1);
    req.headers = check_headers(L, 1); // [opts, (headers, lines, array)]

    l_box *b = lua_newuserdatauv(L, sizeof *b, 0); // [.., box]
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, MR_HTTP_BOX_MT); /* __gc armed before anything is allocated */
    if (mr_http_perform(&req, &b->res) < 0)
        return raise_failure(L, b, req.method, req.url);

    mr_http_response *r = &b->res;
    lua_createtable(L, 0, 4); // [.., box, res]
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    push_headers(L, r->headers.data ? r->headers.data : "", r->headers.len);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, r->seconds);
    lua_setfield(L, -2, "seconds");
    mr_http_response_free(r);
    return 1;
}

/* http.redact_url(url) -> the URL with user info and secret-looking parameter values as "***" */
static int l_http_redact_url(lua_State *L)
{
    size_t len;
    const char *url = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, strlen(url) == len, 1, "holds a NUL byte");
    push_redacted(L, url);
    return 1;
}

/* http.version() -> libcurl's version string */
static int l_http_version(lua_State *L)
{
    lua_pushstring(L, mr_http_version());
    return 1;
}

static const luaL_Reg box_meta[] = {
    {"__gc",    l_box_gc},
    {"__close", l_box_gc},
    {NULL,      NULL    },
};

static const luaL_Reg http_funcs[] = {
    {"request",    l_http_request   },
    {"redact_url", l_http_redact_url},
    {"version",    l_http_version   },
    {NULL,         NULL             },
};

int luaopen_migrun_core_http(lua_State *L)
{
    luaL_newmetatable(L, MR_HTTP_BOX_MT); // [mt]
    luaL_setfuncs(L, box_meta, 0);
    lua_pop(L, 1); // []
    luaL_newlib(L, http_funcs);
    return 1;
}
