/*
** l_db.c: the libpq binding, migrun.core.db (binding layer: checks, conversion, errors).
** It makes no decisions: transactions, scripts, retries and messages live in lua/migrun/db.lua.
** Every PGresult is owned by a userdata that __gc reaches (d->pending, s->cur, a batch) until
** cleared, or lives only in a stretch of pure C. Waiting for the server is db.c's mr_db_call.
*/
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "db.h"
#include "l_mr.h"
#include "mr.h"

#define MR_BATCH_MT "migrun.batch"

typedef struct {
    PGconn *conn;       /* NULL once closed; closing twice is a no-op. Kept first: older
                        ** bindings read it there (use mr_db_checkconn instead) */
    PGcancel *cancel;   /* for conn:cancel(), timeouts and the SIGINT handler */
    PGresult *pending;  /* the result being converted; cleared before the next call */
    char *pqmem;        /* libpq memory being handed to Lua (COPY data, escaped strings) */
    mr_notice *notice;  /* a notice being handed to Lua */
    mr_notices notices; /* filled by libpq's notice receiver, drained after each call */
    const char *busy;   /* set while a rows() loop or a COPY callback owns the connection */
    int64_t timeout_ms; /* conn:set_client_timeout(): the longest silence; 0 = none */
    int connecting;     /* connect(.., async): PQconnectStart'ed, finished at first use */
    int poll_state;     /* ... and what PQconnectPoll last said (PostgresPollingStatusType) */
    int cancelled;      /* this method's query was cancelled by the client timeout */
    int sending;        /* a conn:send() statement has results still to read (d->pending
                        ** holds what conn:wait() kept of them so far); 2: conn:send_all()'s
                        ** (d->all holds them) */
    int64_t since;      /* ... and when its server's silence began: kept across waits */
    PGresult **all;     /* conn:send_all(): every statement's result so far, in order */
    int nall, capall;   /* ... how many, and room for how many */
} l_db;

typedef struct {
    l_db *db;      /* NULL once the stream is finished */
    PGresult *cur; /* the row being converted */
} l_stream;

/* The results of a conn:batch(), one per item, read before any of them is converted. */
typedef struct {
    int n;
    PGresult *res[]; /* NULL where cleared, or for an item the pipeline skipped */
} l_batch;

/* user values of a migrun.db: 1 = notice handler; of a migrun.stream: 1 = its db, 2 = names */

static const char *const type_names[][2] = {
    {"16",   "bool"       },
    {"17",   "bytea"      },
    {"18",   "char"       },
    {"19",   "name"       },
    {"20",   "int8"       },
    {"21",   "int2"       },
    {"23",   "int4"       },
    {"25",   "text"       },
    {"26",   "oid"        },
    {"114",  "json"       },
    {"142",  "xml"        },
    {"700",  "float4"     },
    {"701",  "float8"     },
    {"1042", "bpchar"     },
    {"1043", "varchar"    },
    {"1082", "date"       },
    {"1083", "time"       },
    {"1114", "timestamp"  },
    {"1184", "timestamptz"},
    {"1186", "interval"   },
    {"1266", "timetz"     },
    {"1700", "numeric"    },
    {"2950", "uuid"       },
    {"3802", "jsonb"      },
    {"1009", "text[]"     },
    {"1007", "int4[]"     },
    {"1016", "int8[]"     },
    {"869",  "inet"       },
    {"650",  "cidr"       },
    {"2205", "regclass"   },
    {"705",  "unknown"    },
    {"2249", "record"     },
    {"1005", "int2[]"     },
    {"1015", "varchar[]"  },
};

enum { T_TEXT, T_INT, T_FLOAT, T_BOOL };

static int type_kind(Oid oid)
{
    switch (oid) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */
        return T_INT;
    case 700: /* float4 */
    case 701: /* float8 */
        return T_FLOAT;
    case 16: /* bool */
        return T_BOOL;
    default:
        return T_TEXT;
    }
}

static l_db *check_db(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, MR_DB_MT);
}

static void push_conn_error(lua_State *L, PGconn *conn, const char *message, int lost);

/* The end of a connection made ready, blocking or not: its cancel handle, notices, and every
** wait ours (nonblocking: mr_db_await). */
static void connected(l_db *d)
{
    d->cancel = PQgetCancel(d->conn);
    PQsetNoticeReceiver(d->conn, mr_notice_collect, &d->notices);
    PQsetnonblocking(d->conn, 1);
}

/* When a connection attempt must give up: connect_timeout seconds from now (as libpq reads
** it: at least 2), or 0 for never. */
static int64_t connect_deadline(PGconn *conn)
{
    int64_t deadline = 0;
    PQconninfoOption *opts = PQconninfo(conn);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && atoi(o->val) > 0) {
            int secs = atoi(o->val) < 2 ? 2 : atoi(o->val);
            deadline = mr_clock_now() + (int64_t)secs * 1000000000;
        }
    }
    PQconninfoFree(opts);
    return deadline;
}

/* Finish a connection connect(.., async) started (libpq's PQconnectPoll loop): the server
** started its backend while Lua went on. Raises what a blocking connect would have (kind =
** "connection"), leaving the handle closed. */
static void finish_connect(lua_State *L, l_db *d)
{
    d->connecting = 0;
    int64_t deadline = connect_deadline(d->conn);
    PostgresPollingStatusType st = (PostgresPollingStatusType)d->poll_state;
    const char *failed = NULL;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        struct pollfd p = {PQsocket(d->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
        int ms = -1;
        if (deadline) {
            int64_t left = (deadline - mr_clock_now()) / 1000000;
            ms = left > 0 ? (int)(left < 1000000 ? left : 1000000) : 0;
        }
        int r = p.fd < 0 ? -1 : poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            failed = "timeout expired";
            break;
        }
        st = PQconnectPoll(d->conn); /* also after a failed poll: libpq reports the socket's state */
    }
    if (failed == NULL && PQstatus(d->conn) == CONNECTION_OK) {
        connected(d);
        return;
    }
    push_conn_error(L, d->conn, failed ? failed : PQerrorMessage(d->conn), 0);
    PQfinish(d->conn);
    d->conn = NULL;
    lua_error(L);
}

static l_db *check_open_db(lua_State *L, int idx)
{
    l_db *d = check_db(L, idx);
    if (d->connecting)
        finish_connect(L, d);
    if (d->conn == NULL)
        luaL_argerror(L, idx, "connection is closed");
    if (d->busy)
        luaL_error(L, "connection is busy: %s", d->busy);
    d->cancelled = 0; /* a method begins */
    return d;
}

PGconn *mr_db_checkconn(lua_State *L, int idx, PGcancel **cancel)
{
    l_db *d = check_open_db(L, idx);
    if (cancel != NULL)
        *cancel = d->cancel;
    return d->conn;
}

static void clear_pending(l_db *d)
{
    PQclear(d->pending);
    d->pending = NULL;
    for (int i = 0; i < d->nall; i++)
        PQclear(d->all[i]);
    free(d->all);
    d->all = NULL;
    d->nall = d->capall = 0;
}

static void call_begin(l_db *d, mr_db_call *c)
{
    mr_db_call_begin(c, d->conn, d->cancel, d->timeout_ms);
}

/* The end of a wait: what it did to the query counts for the whole method (timed_out). */
static void call_end(l_db *d, mr_db_call *c)
{
    mr_db_call_end(c);
    d->cancelled |= c->cancelled;
}

/* Close the connection now, without a word to the server (it stopped answering, or the
** socket failed under libpq): the handle is "closed" from here on. Pending results and
** notices stay for __gc. Never raises. Call it after call_end. */
static void hang_up(l_db *d)
{
    if (mr_db_active_cancel == d->cancel)
        mr_db_active_cancel = NULL;
    PQfreeCancel(d->cancel);
    d->cancel = NULL;
    mr_db_hang_up(d->conn);
    d->conn = NULL;
}

/* Read and drop what is left of a query (Ctrl-C and the client timeout apply). Returns
** MR_DB_READY, or MR_DB_TIMEOUT / MR_DB_BROKEN: the caller raises (raise_gone) or hangs up. */
static int drain(l_db *d)
{
    mr_db_call c;
    call_begin(d, &c);
    int rc = mr_db_drain_call(&c);
    call_end(d, &c);
    return rc;
}

/* Abandon a COPY TO STDOUT: ask the server to stop, then read what is left. */
static int cancel_copy(l_db *d)
{
    char err[256];
    if (d->cancel)
        PQcancel(d->cancel, err, sizeof err);
    return drain(d);
}

/* ---- notices -------------------------------------------------------------------------- */

/* Push one notice as {severity, sqlstate, message, detail, hint, context}. */
static void push_notice(lua_State *L, const mr_notice *n)
{
    const char *fields[][2] = {
        {"severity", n->severity},
        {"sqlstate", n->sqlstate},
        {"message",  n->message },
        {"detail",   n->detail  },
        {"hint",     n->hint    },
        {"context",  n->context }
    };
    lua_createtable(L, 0, (int)MR_COUNT(fields)); // [notice]
    for (size_t i = 0; i < MR_COUNT(fields); i++) {
        if (fields[i][1]) {
            lua_pushstring(L, fields[i][1]);
            lua_setfield(L, -2, fields[i][0]);
        }
    }
}

/* Hand queued notices to the handler in the db's user value 1, or drop them when there is
** none. Runs only once the call's result is converted and cleared, so the handler may use the
** connection. Returns LUA_OK, or the handler's error status with its error on top (the rest
** of the batch is dropped). */
static int dispatch_notices(lua_State *L, int dbidx, l_db *d)
{
    if (d->notices.head == NULL)
        return LUA_OK;
    dbidx = lua_absindex(L, dbidx);
    if (lua_getiuservalue(L, dbidx, 1) != LUA_TFUNCTION) { // [handler]
        lua_pop(L, 1);
        mr_notices_clear(&d->notices);
        return LUA_OK;
    }
    while ((d->notice = mr_notices_pop(&d->notices)) != NULL) {
        lua_pushvalue(L, -1);      // [handler, handler]
        push_notice(L, d->notice); // [handler, handler, notice]
        mr_notice_free(d->notice);
        d->notice = NULL;
        int st = lua_pcall(L, 1, 0, 0); // [handler] or [handler, err]
        if (st != LUA_OK) {
            lua_remove(L, -2); // [err]
            mr_notices_clear(&d->notices);
            return st;
        }
    }
    lua_pop(L, 1); // []
    return LUA_OK;
}

/* The end of every successful call: deliver notices; a handler's error propagates. */
static void finish_call(lua_State *L, int dbidx, l_db *d)
{
    if (dispatch_notices(L, dbidx, d) != LUA_OK)
        lua_error(L);
}

/* ---- errors --------------------------------------------------------------------------- */

static const struct {
    int code;
    const char *key;
} pg_fields[] = {
    {PG_DIAG_SQLSTATE,              "sqlstate"      },
    {PG_DIAG_SEVERITY_NONLOCALIZED, "severity"      },
    {PG_DIAG_MESSAGE_PRIMARY,       "message"       },
    {PG_DIAG_MESSAGE_DETAIL,        "detail"        },
    {PG_DIAG_MESSAGE_HINT,          "hint"          },
    {PG_DIAG_INTERNAL_QUERY,        "internal_query"},
    {PG_DIAG_CONTEXT,               "context"       },
    {PG_DIAG_SCHEMA_NAME,           "schema"        },
    {PG_DIAG_TABLE_NAME,            "table"         },
    {PG_DIAG_COLUMN_NAME,           "column"        },
    {PG_DIAG_DATATYPE_NAME,         "datatype"      },
    {PG_DIAG_CONSTRAINT_NAME,       "constraint"    },
};

/* Push message without libpq's trailing newlines and blanks. */
static void push_trimmed(lua_State *L, const char *message)
{
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
        len--;
    lua_pushlstring(L, message, len);
}

/* Push a migrun.error {kind="connection", message, host, port, dbname, user [, lost]}. The
** message is libpq's, trimmed, with the connection's password (if any) masked: libpq quotes
** option values in some messages. lost=true: the connection broke after it was made. */
static void push_conn_error(lua_State *L, PGconn *conn, const char *message, int lost)
{
    mr_l_push_error(L, "connection", NULL); // [err]
    push_trimmed(L, message);               // [err, msg]
    const char *pass = conn ? PQpass(conn) : NULL;
    if (pass && pass[0]) {
        luaL_gsub(L, lua_tostring(L, -1), pass, "***"); // [err, msg, masked]
        lua_remove(L, -2);                              // [err, masked]
    }
    lua_setfield(L, -2, "message"); // [err]
    if (lost) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "lost");
    }
    if (conn != NULL) {
        const char *parts[][2] = {
            {"host",   PQhost(conn)},
            {"port",   PQport(conn)},
            {"dbname", PQdb(conn)  },
            {"user",   PQuser(conn)}
        };
        for (size_t i = 0; i < MR_COUNT(parts); i++) {
            if (parts[i][1] && parts[i][1][0]) {
                lua_pushstring(L, parts[i][1]);
                lua_setfield(L, -2, parts[i][0]);
            }
        }
    }
}

/* Push the migrun.error for res, an error result (or NULL when libpq made none; res stays
** as it is). kind="connection", lost=true when the connection is gone, a FATAL from a
** terminated backend included (its message is the server's); kind="sql" with every
** diagnostic field otherwise. timed_out: the query was cancelled by the client timeout. */
static void push_result_error(lua_State *L, l_db *d, const PGresult *res, int timed_out)
{
    PGconn *conn = d->conn;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (conn == NULL || PQstatus(conn) == CONNECTION_BAD || state == NULL) {
        const char *msg = state ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        if (msg == NULL)
            msg = res ? PQresultErrorMessage(res) : "";
        if (msg[0] == '\0')
            msg = conn ? PQerrorMessage(conn) : "connection is closed";
        if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
            push_conn_error(L, conn, msg, 1); // [err]
        } else {                              /* libpq's own, on a live connection */
            mr_l_push_error(L, "sql", NULL);  // [err]
            push_trimmed(L, msg);
            lua_setfield(L, -2, "message");
        }
    } else {
        mr_l_push_error(L, "sql", NULL); // [err]
        for (size_t i = 0; i < MR_COUNT(pg_fields); i++) {
            const char *v = PQresultErrorField(res, pg_fields[i].code);
            if (v) {
                lua_pushstring(L, v);
                lua_setfield(L, -2, pg_fields[i].key);
            }
        }
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        if (pos) {
            lua_pushinteger(L, atoi(pos));
            lua_setfield(L, -2, "position");
        }
        pos = PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION);
        if (pos) {
            lua_pushinteger(L, atoi(pos));
            lua_setfield(L, -2, "internal_position");
        }
    }
    if (timed_out) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timed_out");
    }
}

/* Raise the error on top of the stack, after delivering the notices that came before it (a
** failing handler can't hide the error). */
static int throw_error(lua_State *L, int dbidx, l_db *d)
{
    dbidx = lua_absindex(L, dbidx);
    if (dispatch_notices(L, dbidx, d) != LUA_OK) // [err] or [err, handler_err]
        lua_pop(L, 1);
    return lua_error(L);
}

/* Raise the error held in *res (owned by the db at dbidx): clears it, then throw_error. */
static int raise_result(lua_State *L, int dbidx, l_db *d, PGresult **res, int timed_out)
{
    dbidx = lua_absindex(L, dbidx);
    push_result_error(L, d, *res, timed_out); // [err]
    PQclear(*res);
    *res = NULL;
    return throw_error(L, dbidx, d);
}

/* Push the error for a wait that gave up: MR_DB_TIMEOUT (the server stayed silent through
** the limit and the grace after the cancel: the connection is closed, timed_out=true) or
** MR_DB_BROKEN (the socket failed; closed too unless libpq already marked it broken). */
static void push_gone(lua_State *L, l_db *d, int rc)
{
    if (rc == MR_DB_TIMEOUT) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "the server did not answer within %lld ms; the connection was closed",
                 (long long)d->timeout_ms);
        push_conn_error(L, d->conn, msg, 1); // [err]
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timed_out");
    } else {
        push_conn_error(L, d->conn, PQerrorMessage(d->conn), 1);
    }
    if (rc == MR_DB_TIMEOUT || PQstatus(d->conn) != CONNECTION_BAD)
        hang_up(d);
}

static int raise_gone(lua_State *L, l_db *d, int rc)
{
    push_gone(L, d, rc);
    return lua_error(L);
}

/* PQsend* refused: the connection is gone (kind="connection", lost=true), or libpq is in a
** state it should never be in here (a bug: a plain error). */
static int raise_send(lua_State *L, l_db *d)
{
    if (PQstatus(d->conn) == CONNECTION_BAD)
        return raise_gone(L, d, MR_DB_BROKEN);
    return luaL_error(L, "libpq refused the query: %s", PQerrorMessage(d->conn));
}

/* Refuse a string libpq would cut short at a NUL byte: migrun.error kind="usage". It is
** parameter $pno when pno > 0, else `what`; item > 0: in that item of conn:batch(). */
static void refuse_nul(lua_State *L, const char *s, size_t len, const char *what, int item, int pno)
{
    const char *nul = memchr(s, '\0', len);
    if (nul == NULL)
        return;
    lua_Integer off = (lua_Integer)(nul - s);
    const char *in = item > 0 ? lua_pushfstring(L, "conn:batch() item %d: ", item) : "";
    if (pno > 0)
        mr_l_raise(L, "usage",
                   "%sparameter $%d contains a NUL byte at byte offset %I: a text parameter "
                   "cannot hold one (send bytea as hex text, '\\x00ff')",
                   in, pno, (LUAI_UACINT)off);
    mr_l_raise(L, "usage", "%s%s contains a NUL byte at byte offset %I: libpq would cut it there",
               in, what, (LUAI_UACINT)off);
}

/* The SQL string argument at idx; raises (kind="usage") when it holds a NUL byte. */
static const char *check_sql(lua_State *L, int idx)
{
    size_t len;
    const char *sql = luaL_checklstring(L, idx, &len);
    refuse_nul(L, sql, len, "the SQL", 0, 0);
    return sql;
}

/* ---- values --------------------------------------------------------------------------- */

static void push_value(lua_State *L, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        lua_pushnil(L);
        return;
    }
    const char *v = PQgetvalue(r, row, col);
    switch (type_kind(PQftype(r, col))) {
    case T_INT:
        lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
        break;
    case T_FLOAT:
        lua_pushnumber(L, (lua_Number)strtod(v, NULL)); /* NaN, Infinity, -Infinity too */
        break;
    case T_BOOL:
        lua_pushboolean(L, v[0] == 't');
        break;
    default:
        lua_pushlstring(L, v, (size_t)PQgetlength(r, row, col));
    }
}

/* Push the column names; a repeated name gets a suffix (a, a_2) so no value is hidden. */
static void push_names(lua_State *L, const PGresult *r)
{
    int n = PQnfields(r);
    lua_createtable(L, n, 0); // [names]
    lua_createtable(L, 0, n); // [names, seen]
    for (int i = 0; i < n; i++) {
        const char *name = PQfname(r, i);
        lua_pushstring(L, name); // [names, seen, cand]
        for (int k = 2;; k++) {
            lua_pushvalue(L, -1);                // [names, seen, cand, cand]
            if (lua_rawget(L, -3) == LUA_TNIL) { // [names, seen, cand, seen[cand]]
                lua_pop(L, 1);
                break;
            }
            lua_pop(L, 2);                        // [names, seen]
            lua_pushfstring(L, "%s_%d", name, k); // [names, seen, cand]
        }
        lua_pushvalue(L, -1); // [names, seen, cand, cand]
        lua_pushboolean(L, 1);
        lua_rawset(L, -4);         // [names, seen, cand]
        lua_rawseti(L, -3, i + 1); // [names, seen]
    }
    lua_pop(L, 1); // [names]
}

static void push_row(lua_State *L, const PGresult *r, int row, int names)
{
    int n = PQnfields(r);
    lua_createtable(L, 0, n); // [row]
    for (int c = 0; c < n; c++) {
        if (PQgetisnull(r, row, c))
            continue;
        lua_rawgeti(L, names, c + 1); // [row, name]
        push_value(L, r, row, c);     // [row, name, value]
        lua_rawset(L, -3);            // [row]
    }
}

static lua_Integer cmd_tuples(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)r);
    return t[0] ? (lua_Integer)strtoll(t, NULL, 10) : 0;
}

/* Push the type names of r's columns ("int4", or the OID as a string when not well known). */
static void push_types(lua_State *L, const PGresult *r)
{
    int ncols = PQnfields(r);
    lua_createtable(L, ncols, 0); // [types]
    for (int c = 0; c < ncols; c++) {
        char oid[16];
        snprintf(oid, sizeof oid, "%u", PQftype(r, c));
        const char *name = oid;
        for (size_t k = 0; k < MR_COUNT(type_names); k++)
            if (strcmp(type_names[k][0], oid) == 0)
                name = type_names[k][1];
        lua_pushstring(L, name);
        lua_rawseti(L, -2, c + 1);
    }
}

/* Push r as conn:query returns it: {[i]=row, n, ncols, columns, types, command, affected}. */
static void push_query_result(lua_State *L, const PGresult *r)
{
    int nrows = PQntuples(r), ncols = PQnfields(r);
    lua_createtable(L, nrows, 7); // [res]
    push_names(L, r);             // [res, names]
    int names = lua_gettop(L);
    for (int i = 0; i < nrows; i++) {
        push_row(L, r, i, names);  // [res, names, row]
        lua_rawseti(L, -3, i + 1); // [res, names]
    }
    lua_setfield(L, -2, "columns"); // [res]
    push_types(L, r);               // [res, types]
    lua_setfield(L, -2, "types");   // [res]
    lua_pushinteger(L, nrows);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, ncols);
    lua_setfield(L, -2, "ncols");
    lua_pushstring(L, PQcmdStatus((PGresult *)r));
    lua_setfield(L, -2, "command");
    lua_pushinteger(L, cmd_tuples(r));
    lua_setfield(L, -2, "affected");
}

/* ---- parameters ----------------------------------------------------------------------- */

/* The text of parameter $pno, the Lua value at idx (a number is replaced there by its string,
** which the slot keeps alive), or NULL for nil. Raises for a value that can't be sent: an
** argument error for argument argidx, or, in conn:batch() (argidx 0), naming the item. */
static const char *param_text(lua_State *L, int idx, int pno, int argidx, int item)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return NULL;
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
            double x = lua_tonumber(L, idx);
            char buf[64];
            if (isnan(x))
                snprintf(buf, sizeof buf, "NaN");
            else if (isinf(x))
                snprintf(buf, sizeof buf, x > 0 ? "Infinity" : "-Infinity");
            else
                snprintf(buf, sizeof buf, "%.17g", x);
            lua_pushstring(L, buf);
        }
        lua_replace(L, idx); /* the string stays alive in the slot */
        return lua_tostring(L, idx);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        refuse_nul(L, s, len, NULL, item, pno); /* text parameters end at a NUL */
        return s;
    }
    default:
        if (argidx > 0)
            luaL_argerror(
                L, argidx,
                lua_pushfstring(L, "parameter $%d: cannot send a %s", pno, luaL_typename(L, idx)));
        luaL_error(L, "conn:batch() item %d: parameter $%d: cannot send a %s", item, pno,
                   luaL_typename(L, idx));
        return NULL;
    }
}

/* Convert Lua values at [first, top] to text parameters kept alive on the stack. */
static const char **build_params(lua_State *L, int first, int *nparams)
{
    int top = lua_gettop(L);
    int n = top >= first ? top - first + 1 : 0;
    *nparams = n;
    if (n == 0)
        return NULL;
    if (n > 65535)
        luaL_error(L, "too many parameters (%d; PostgreSQL allows 65535)", n);
    const char **vals = lua_newuserdatauv(L, (size_t)n * sizeof *vals, 0); /* GC'd scratch */
    for (int i = 0; i < n; i++)
        vals[i] = param_text(L, first + i, i + 1, first + i, 0);
    return vals;
}

/* ---- query, exec ---------------------------------------------------------------------- */

static int is_failure(ExecStatusType st)
{
    return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR;
}

/* Read a sent query's results as PQexec does into *keep: the first error, else the last
** result; stop at a COPY (the caller takes it from there) or a broken connection. Pure C;
** *keep belongs to a userdata (d->pending) and may hold what an earlier call kept.
** MR_DB_READY (done), MR_DB_PENDING (the call's time ran out: *keep holds the results so
** far; call again), or mr_db_next's failure (*keep cleared). */
static int collect(mr_db_call *c, PGresult **keep)
{
    PGresult *r;
    int rc;
    while ((rc = mr_db_next(c, &r)) == MR_DB_READY && r != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (*keep != NULL && is_failure(PQresultStatus(*keep))) {
            PQclear(r);
        } else {
            PQclear(*keep);
            *keep = r;
        }
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH ||
            PQstatus(c->conn) == CONNECTION_BAD)
            break;
    }
    if (rc != MR_DB_READY && rc != MR_DB_PENDING) {
        PQclear(*keep);
        *keep = NULL;
    }
    return rc;
}

/* collect() for conn:send_all(): keeps every result in d->all, in order (the server stops
** at the first statement that fails). Pure C. Same return codes as collect(); d->all is
** cleared on a failure to read. */
static int collect_all(mr_db_call *c, l_db *d)
{
    PGresult *r;
    int rc;
    while ((rc = mr_db_next(c, &r)) == MR_DB_READY && r != NULL) {
        if (d->nall == d->capall) {
            int cap = d->capall ? d->capall * 2 : 16;
            PGresult **all = realloc(d->all, (size_t)cap * sizeof *all);
            if (all == NULL) {
                PQclear(r);
                rc = MR_DB_BROKEN; /* out of memory: the caller closes the connection */
                break;
            }
            d->all = all;
            d->capall = cap;
        }
        d->all[d->nall++] = r;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH ||
            PQstatus(c->conn) == CONNECTION_BAD)
            break;
    }
    if (rc != MR_DB_READY && rc != MR_DB_PENDING)
        clear_pending(d);
    return rc;
}

/* Send sql (and params) on d and wait for its results; the outcome is d->pending on return
** (owned by the db). Raises when the send fails or the wait gives up. */
static void send_and_collect(lua_State *L, l_db *d, const char *sql, int n, const char **vals)
{
    clear_pending(d);
    mr_db_call c;
    call_begin(d, &c);
    int sent = n == 0 ? PQsendQuery(d->conn, sql)
                      : PQsendQueryParams(d->conn, sql, n, NULL, vals, NULL, NULL, 0);
    int rc = sent ? collect(&c, &d->pending) : MR_DB_READY;
    call_end(d, &c);
    if (!sent)
        raise_send(L, d);
    if (rc != MR_DB_READY)
        raise_gone(L, d, rc);
}

static const char copy_misuse[] = "COPY needs conn:copy_in() or conn:copy_out(), not query(), "
                                  "exec() or send()";

/* The outcome of a statement whose results are all read, d->pending (owned by the db at
** index 1): returned when it succeeded, else raised (an SQL error; a COPY is ended and
** refused). */
static PGresult *checked_result(lua_State *L, l_db *d)
{
    int rc;
    switch (PQresultStatus(d->pending)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return d->pending;
    case PGRES_COPY_IN:
        clear_pending(d);
        if ((rc = drain(d)) != MR_DB_READY) /* ends the COPY without data */
            raise_gone(L, d, rc);
        luaL_error(L, "%s", copy_misuse);
        return NULL;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        clear_pending(d);
        if ((rc = cancel_copy(d)) != MR_DB_READY) /* don't read a whole table to refuse it */
            raise_gone(L, d, rc);
        luaL_error(L, "%s", copy_misuse);
        return NULL;
    default:
        raise_result(L, 1, d, &d->pending, d->cancelled);
        return NULL;
    }
}

/* Run sql with the parameters from index 3 on; the result is d->pending on return (owned by
** the db at index 1); a failure raises. */
static PGresult *run(lua_State *L, l_db *d)
{
    const char *sql = check_sql(L, 2);
    int n;
    const char **vals = build_params(L, 3, &n);
    send_and_collect(L, d, sql, n, vals);
    return checked_result(L, d);
}

/* conn:query(sql, ...) -> {[i]=row, n, ncols, columns, types, command, affected};
** raises migrun.error. The PGresult stays owned by the db until it is converted. */
static int l_db_query(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    PGresult *r = run(L, d);
    push_query_result(L, r); // [.., res]
    clear_pending(d);
    finish_call(L, 1, d);
    return 1;
}

/* conn:exec(sql, ...) -> rows affected (integer); raises migrun.error */
static int l_db_exec(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    PGresult *r = run(L, d);
    lua_Integer n = cmd_tuples(r);
    clear_pending(d);
    finish_call(L, 1, d);
    lua_pushinteger(L, n);
    return 1;
}

/* ---- rows ----------------------------------------------------------------------------- */

/* Let go of the connection without touching it (the wait gave up: raise_gone follows). */
static void stream_release(l_stream *s)
{
    PQclear(s->cur);
    s->cur = NULL;
    if (s->db != NULL)
        s->db->busy = NULL;
    s->db = NULL;
}

/* End a stream and give the connection back. With cancel (break, error in the loop body,
** __gc), rows that have already arrived are dropped without blocking; if the server is still
** sending, the query is cancelled, so a huge result is not read to its end. A server that
** does not answer gets its connection closed. Never raises. */
static void stream_finish(l_stream *s, int cancel)
{
    l_db *d = s->db;
    stream_release(s);
    if (d == NULL || d->conn == NULL)
        return;
    if (cancel) {
        /* one read of what the socket holds, then only what is parsed: reading in the loop
        ** would chase a server that sends faster than we drop rows, buffer growing */
        PQconsumeInput(d->conn);
        while (!PQisBusy(d->conn)) {
            PGresult *r = PQgetResult(d->conn);
            if (r == NULL)
                return; /* the query had already finished */
            PQclear(r);
        }
        char err[256];
        if (d->cancel)
            PQcancel(d->cancel, err, sizeof err);
    }
    if (drain(d) != MR_DB_READY)
        hang_up(d);
}

/* stream __gc and __close (the loop's closing value): ends the query. Never raises. */
static int l_stream_gc(lua_State *L)
{
    l_stream *s = luaL_checkudata(L, 1, MR_STREAM_MT);
    stream_finish(s, 1);
    return 0;
}

/* iterator of conn:rows(): the next row, or nil at the end; raises migrun.error. The row's
** PGresult is owned by the stream (s->cur) while it is converted. */
static int l_stream_next(lua_State *L)
{
    l_stream *s = luaL_checkudata(L, 1, MR_STREAM_MT);
    l_db *d = s->db;
    if (d == NULL)
        return 0;
    if (d->conn == NULL) {
        stream_finish(s, 0);
        return luaL_error(L, "the connection was closed during a conn:rows() loop");
    }
    PQclear(s->cur);
    s->cur = NULL;
    d->cancelled = 0;
    mr_db_call c;
    call_begin(d, &c);
    int rc = mr_db_next(&c, &s->cur); /* pure C: s owns the result from here */
    call_end(d, &c);
    if (rc != MR_DB_READY) {
        stream_release(s);
        return raise_gone(L, d, rc);
    }
    switch (PQresultStatus(s->cur)) {
    case PGRES_SINGLE_TUPLE:
        if (lua_getiuservalue(L, 1, 2) == LUA_TNIL) { // [names | nil]
            lua_pop(L, 1);
            push_names(L, s->cur); // [names]
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 2);
        }
        push_row(L, s->cur, 0, lua_gettop(L)); // [names, row]
        PQclear(s->cur);
        s->cur = NULL;
        return 1;
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        stream_finish(s, 0);
        lua_getiuservalue(L, 1, 1); // [db]
        finish_call(L, -1, d);
        return 0;
    default: {
        clear_pending(d); /* the error moves to the connection */
        d->pending = s->cur;
        s->cur = NULL;
        stream_finish(s, 0);
        lua_getiuservalue(L, 1, 1); // [db]
        return raise_result(L, -1, d, &d->pending, d->cancelled);
    }
    }
}

/* conn:rows(sql, ...) -> iterator, stream, nil, stream (the stream is the loop's closing
** value, so break and errors end the query); streams in flat memory (single-row mode). The
** connection is busy until the loop ends. */
static int l_db_rows(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = check_sql(L, 2);
    int n;
    const char **vals = build_params(L, 3, &n);
    l_stream *s = lua_newuserdatauv(L, sizeof *s, 2); // [.., stream]
    *s = (l_stream){0};
    luaL_setmetatable(L, MR_STREAM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the stream keeps its db alive */
    clear_pending(d);
    if (!PQsendQueryParams(d->conn, sql, n, NULL, vals, NULL, NULL, 0))
        return raise_send(L, d);
    if (!PQsetSingleRowMode(d->conn)) { /* else rows would arrive all at once */
        int rc = drain(d);
        if (rc != MR_DB_READY)
            return raise_gone(L, d, rc);
        return luaL_error(L, "conn:rows(): libpq refused single-row mode");
    }
    s->db = d;
    d->busy = "a conn:rows() loop is still open (finish or break it)";
    lua_pushcfunction(L, l_stream_next); // [.., stream, next]
    lua_insert(L, -2);                   // [.., next, stream]
    lua_pushnil(L);                      // [.., next, stream, nil]
    lua_pushvalue(L, -2);                // [.., next, stream, nil, stream]
    return 4;
}

/* ---- COPY ----------------------------------------------------------------------------- */

/* Finish a COPY whose data phase has ended: read the final result, return rows copied. */
static lua_Integer copy_result(lua_State *L, l_db *d)
{
    clear_pending(d);
    mr_db_call c;
    call_begin(d, &c);
    int rc = mr_db_next(&c, &d->pending);
    call_end(d, &c);
    if (rc != MR_DB_READY)
        raise_gone(L, d, rc);
    if (PQresultStatus(d->pending) != PGRES_COMMAND_OK) {
        if ((rc = drain(d)) != MR_DB_READY)
            raise_gone(L, d, rc);
        raise_result(L, 1, d, &d->pending, d->cancelled);
    }
    lua_Integer n = cmd_tuples(d->pending);
    clear_pending(d);
    if ((rc = drain(d)) != MR_DB_READY)
        raise_gone(L, d, rc);
    return n;
}

/* Start a COPY and check it went into the expected state; raises otherwise. */
static void copy_start(lua_State *L, l_db *d, const char *sql, ExecStatusType want)
{
    int rc;
    send_and_collect(L, d, sql, 0, NULL);
    ExecStatusType st = PQresultStatus(d->pending);
    if (st == want) {
        clear_pending(d);
        return;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        clear_pending(d);
        rc = st == PGRES_COPY_IN ? drain(d) : cancel_copy(d);
        if (rc != MR_DB_READY)
            raise_gone(L, d, rc);
        luaL_error(L, "expected %s",
                   want == PGRES_COPY_OUT ? "COPY ... TO STDOUT" : "COPY ... FROM STDIN");
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        clear_pending(d);
        luaL_error(L, "not a COPY statement");
    }
    raise_result(L, 1, d, &d->pending, d->cancelled);
}

/* After a COPY step failed with MR_DB_FAILED: the connection broke, or raise_io follows. */
static void check_copy_failed(lua_State *L, l_db *d, int rc)
{
    if (rc == MR_DB_FAILED && PQstatus(d->conn) == CONNECTION_BAD)
        rc = MR_DB_BROKEN;
    if (rc != MR_DB_FAILED)
        raise_gone(L, d, rc);
}

/* conn:copy_out(sql, path | fn(chunk)) -> rows; raises migrun.error (kind "sql", or "io" for
** the file, or the callback's own error). A path is written 0600, streamed in C; fn gets each
** chunk (a row in text format) and may not use the connection meanwhile. */
static int l_db_copy_out(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = check_sql(L, 2);
    luaL_argexpected(L, lua_type(L, 3) == LUA_TSTRING || lua_isfunction(L, 3), 3,
                     "file path or function");
    lua_settop(L, 3);
    copy_start(L, d, sql, PGRES_COPY_OUT);
    mr_db_call c;
    int rc = MR_DB_READY;
    if (lua_type(L, 3) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 3);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            int e = errno;
            if ((rc = cancel_copy(d)) != MR_DB_READY)
                return raise_gone(L, d, rc);
            return mr_l_raise(L, "io", "%s: %s", path, strerror(e));
        }
        char err[512];
        call_begin(d, &c);
        rc = mr_db_copy_out_fd(&c, fd, err, sizeof err);
        call_end(d, &c);
        if (close(fd) < 0 && rc == MR_DB_READY) {
            snprintf(err, sizeof err, "close failed: %s", strerror(errno));
            rc = MR_DB_FAILED;
        }
        if (rc != MR_DB_READY) {
            check_copy_failed(L, d, rc);
            if ((rc = drain(d)) != MR_DB_READY)
                return raise_gone(L, d, rc);
            return mr_l_raise(L, "io", "%s: %s", path, err);
        }
    } else {
        int len;
        d->busy = "a conn:copy_out() callback is running";
        for (;;) {
            call_begin(d, &c);
            while ((len = PQgetCopyData(d->conn, &d->pqmem, 1)) == 0 &&
                   (rc = mr_db_wait_io(&c, 0)) == MR_DB_READY)
                ;
            call_end(d, &c);
            if (len <= 0)
                break;
            lua_pushvalue(L, 3);                       // [.., fn]
            lua_pushlstring(L, d->pqmem, (size_t)len); // [.., fn, chunk]
            PQfreemem(d->pqmem);
            d->pqmem = NULL;
            if (lua_pcall(L, 1, 0, 0) != LUA_OK) { // [.., err]
                d->busy = NULL;
                if (d->conn != NULL && (rc = cancel_copy(d)) != MR_DB_READY)
                    hang_up(d); /* the callback's error wins */
                return lua_error(L);
            }
            if (d->conn == NULL) {
                d->busy = NULL;
                return luaL_error(L, "the connection was closed during conn:copy_out()");
            }
        }
        d->busy = NULL;
        if (rc != MR_DB_READY)
            return raise_gone(L, d, rc);
        if (len == -2)
            return raise_gone(L, d, MR_DB_BROKEN);
    }
    lua_Integer n = copy_result(L, d);
    finish_call(L, 1, d);
    lua_pushinteger(L, n);
    return 1;
}

/* conn:copy_in(sql, path | fn() -> chunk|nil) -> rows; raises migrun.error (kind "sql", or
** "io" for the file, or the callback's own error). The file is streamed in C; fn is called
** until it returns nil and may not use the connection meanwhile. An error aborts the COPY,
** so no row is loaded, and leaves the connection usable. */
static int l_db_copy_in(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = check_sql(L, 2);
    luaL_argexpected(L, lua_type(L, 3) == LUA_TSTRING || lua_isfunction(L, 3), 3,
                     "file path or function");
    lua_settop(L, 3);
    copy_start(L, d, sql, PGRES_COPY_IN);
    mr_db_call c;
    int rc;
    if (lua_type(L, 3) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 3);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            call_begin(d, &c);
            rc = mr_db_put_copy_end(&c, "migrun could not open the input file");
            call_end(d, &c);
            if (rc != MR_DB_READY)
                check_copy_failed(L, d, rc);
            if ((rc = drain(d)) != MR_DB_READY)
                return raise_gone(L, d, rc);
            return mr_l_raise(L, "io", "%s: %s", path, strerror(e));
        }
        char err[512];
        call_begin(d, &c);
        rc = mr_db_copy_in_fd(&c, fd, err, sizeof err);
        call_end(d, &c);
        close(fd);
        if (rc != MR_DB_READY) {
            check_copy_failed(L, d, rc);
            if ((rc = drain(d)) != MR_DB_READY)
                return raise_gone(L, d, rc);
            return mr_l_raise(L, "io", "%s: %s", path, err);
        }
    } else {
        d->busy = "a conn:copy_in() callback is running";
        for (;;) {
            lua_pushvalue(L, 3);
            int st = lua_pcall(L, 0, 1, 0); // [.., chunk | err]
            if (d->conn == NULL) {
                d->busy = NULL;
                return luaL_error(L, "the connection was closed during conn:copy_in()");
            }
            const char *abort = NULL;
            if (st != LUA_OK)
                abort = "aborted by an error in migrun";
            else if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
                abort = "bad chunk from migrun";
            if (abort != NULL) {
                d->busy = NULL;
                call_begin(d, &c);
                rc = mr_db_put_copy_end(&c, abort);
                call_end(d, &c);
                if (rc == MR_DB_READY || rc == MR_DB_FAILED)
                    rc = drain(d);
                if (rc != MR_DB_READY)
                    hang_up(d); /* the first error wins */
                if (st != LUA_OK)
                    return lua_error(L);
                return luaL_error(L,
                                  "copy_in: the function must return a string or nil, "
                                  "not a %s",
                                  luaL_typename(L, -1));
            }
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            size_t len;
            const char *chunk = lua_tolstring(L, -1, &len);
            call_begin(d, &c);
            rc = mr_db_put_copy(&c, chunk, len);
            call_end(d, &c);
            if (rc != MR_DB_READY) {
                d->busy = NULL;
                return raise_gone(L, d, rc == MR_DB_FAILED ? MR_DB_BROKEN : rc);
            }
            lua_pop(L, 1);
        }
        d->busy = NULL;
        call_begin(d, &c);
        rc = mr_db_put_copy_end(&c, NULL);
        call_end(d, &c);
        if (rc != MR_DB_READY)
            return raise_gone(L, d, rc == MR_DB_FAILED ? MR_DB_BROKEN : rc);
    }
    lua_Integer n = copy_result(L, d);
    finish_call(L, 1, d);
    lua_pushinteger(L, n);
    return 1;
}

/* ---- batch ---------------------------------------------------------------------------- */

typedef struct {
    const char *sql;
    int nparams;
    const char **vals;
} batch_item;

static void batch_clear(l_batch *b)
{
    for (int i = 0; i < b->n; i++) {
        PQclear(b->res[i]);
        b->res[i] = NULL;
    }
}

/* __gc of a batch's results: clears what conversion has not reached. Never raises. */
static int l_batch_gc(lua_State *L)
{
    batch_clear(luaL_checkudata(L, 1, MR_BATCH_MT));
    return 0;
}

/* Does sql start with the COPY keyword (after blanks and comments)? COPY has no place in a
** pipeline: libpq would hand back a COPY state in the middle of it. */
static int is_copy(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 1; /* SQL block comments nest */
            for (p += 2; *p && depth > 0; p++) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p++;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p++;
            }
        } else {
            break;
        }
    }
    return strncasecmp(p, "copy", 4) == 0 && !(isalnum((unsigned char)p[4]) || p[4] == '_' ||
                                               p[4] == '$' || (unsigned char)p[4] >= 0x80);
}

/* Read item i's results (one, then the NULL that ends it) into *slot: the result, or the
** error when there is one; a pipeline-aborted item leaves NULL. Pure C. */
static int batch_read_item(mr_db_call *c, PGresult **slot)
{
    PGresult *r;
    int rc = mr_db_next(c, &r);
    if (rc == MR_DB_READY && r == NULL && PQstatus(c->conn) != CONNECTION_BAD)
        return MR_DB_BROKEN; /* out of step with the pipeline */
    while (rc == MR_DB_READY && r != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r);
            return MR_DB_BROKEN; /* is_copy() missed one: close */
        }
        if (st == PGRES_PIPELINE_ABORTED || (*slot != NULL && is_failure(PQresultStatus(*slot)))) {
            PQclear(r);
        } else {
            PQclear(*slot);
            *slot = r;
        }
        if (PQstatus(c->conn) == CONNECTION_BAD)
            return MR_DB_READY;
        rc = mr_db_next(c, &r);
    }
    return rc;
}

/* Send every item in one pipeline, ended by one sync, then read every result into res[].
** Pure C. Leaves the connection out of pipeline mode unless it broke (then PQstatus says so)
** or the wait failed (MR_DB_TIMEOUT, MR_DB_BROKEN: the caller closes it). *at is the
** 0-based item being read when that happened. */
static int batch_run(mr_db_call *c, const batch_item *it, int n, PGresult **res, int *at)
{
    PGconn *conn = c->conn;
    *at = 0;
    if (!PQenterPipelineMode(conn))
        return MR_DB_BROKEN;
    for (int i = 0; i < n; i++) {
        *at = i;
        if (!PQsendQueryParams(conn, it[i].sql, it[i].nparams, NULL, it[i].vals, NULL, NULL, 0))
            return PQstatus(conn) == CONNECTION_BAD ? MR_DB_READY : MR_DB_BROKEN;
    }
    if (!PQpipelineSync(conn))
        return PQstatus(conn) == CONNECTION_BAD ? MR_DB_READY : MR_DB_BROKEN;
    for (int i = 0; i < n; i++) {
        *at = i;
        int rc = batch_read_item(c, &res[i]);
        if (rc != MR_DB_READY || PQstatus(conn) == CONNECTION_BAD)
            return rc;
    }
    *at = n - 1;
    PGresult *r;
    int rc = mr_db_next(c, &r);
    if (rc != MR_DB_READY)
        return rc;
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (PQstatus(conn) == CONNECTION_BAD)
        return MR_DB_READY;
    if (st != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(conn))
        return MR_DB_BROKEN;
    return MR_DB_READY;
}

/* Read conn:batch()'s list at index 2 into items (validated, parameters converted and
** anchored in the table at index anchor); raises for a bad item before anything is sent. */
static void batch_items(lua_State *L, batch_item *items, int n, int anchor)
{
    int na = 0;
    for (int i = 0; i < n; i++) {
        int item = i + 1;
        int t = lua_geti(L, 2, item); // [.., item]
        int top = lua_gettop(L);
        batch_item *b = &items[i];
        *b = (batch_item){0};
        if (t == LUA_TTABLE) {
            if (lua_geti(L, top, 1) != LUA_TSTRING) // [.., item, sql]
                luaL_error(L, "conn:batch() item %d: the SQL (item[1]) must be a string", item);
            lua_Integer count;
            if (lua_getfield(L, top, "n") == LUA_TNUMBER && lua_isinteger(L, -1))
                count = lua_tointeger(L, -1); /* table.pack's n: trailing nils count */
            else
                count = luaL_len(L, top);
            lua_pop(L, 1); // [.., item, sql]
            if (count - 1 > 65535)
                luaL_error(L,
                           "conn:batch() item %d: too many parameters (%d; PostgreSQL "
                           "allows 65535)",
                           item, (int)(count - 1));
            b->nparams = count > 1 ? (int)(count - 1) : 0;
        } else if (t == LUA_TSTRING) {
            lua_pushvalue(L, top); // [.., item, sql]
        } else {
            luaL_error(L, "conn:batch() item %d: an SQL string or {sql, params...}, not a %s", item,
                       luaL_typename(L, top));
        }
        size_t len;
        b->sql = lua_tolstring(L, -1, &len); /* anchored by the list */
        refuse_nul(L, b->sql, len, "the SQL", item, 0);
        if (is_copy(b->sql))
            mr_l_raise(L, "usage",
                       "conn:batch() item %d is a COPY: use conn:copy_in() or "
                       "conn:copy_out()",
                       item);
        lua_pop(L, 1); // [.., item]
        if (b->nparams > 0) {
            b->vals = lua_newuserdatauv(L, (size_t)b->nparams * sizeof *b->vals, 0);
            lua_rawseti(L, anchor, ++na); // [.., item]
            for (int k = 1; k <= b->nparams; k++) {
                lua_geti(L, top, k + 1); // [.., item, value]
                b->vals[k - 1] = param_text(L, -1, k, 0, item);
                lua_rawseti(L, anchor, ++na); // [.., item]  (a string, or nil: none)
            }
        }
        lua_pop(L, 1); // [..]
    }
}

/* conn:batch({sql | {sql, p1, ...}, ...}) -> {result, ...}, each shaped as conn:query's.
** Sends every item in one libpq pipeline (one round trip), then reads every result. Each
** item is one statement (extended protocol: no multi-statement strings, no COPY). Outside a
** transaction block the items run in one implicit transaction: all or nothing. On the first
** failing item raises its migrun.error (kind="sql") with index = its 1-based position; the
** items after it are skipped by the server, and the connection is left idle (nothing
** applied) or, when the caller had a transaction block open, "inerror" (ROLLBACK it). A
** connection lost or timed out raises kind="connection" with index too. An item table's n
** (table.pack) counts trailing nil parameters. */
static int l_db_batch(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_Integer len = luaL_len(L, 2);
    luaL_argcheck(L, len >= 0 && len <= 1000000, 2, "at most 1000000 items");
    int n = (int)len;
    if (n == 0) {
        lua_newtable(L);
        return 1;
    }
    lua_newtable(L); // [db, list, anchor]
    batch_item *items = lua_newuserdatauv(L, (size_t)n * sizeof *items, 0);
    batch_items(L, items, n, 3); // [db, list, anchor, items]
    l_batch *b = lua_newuserdatauv(L, sizeof *b + (size_t)n * sizeof b->res[0], 0);
    b->n = n;
    for (int i = 0; i < n; i++)
        b->res[i] = NULL;
    luaL_setmetatable(L, MR_BATCH_MT); // [db, list, anchor, items, b]
    clear_pending(d);
    mr_db_call c;
    call_begin(d, &c);
    int at;
    int rc = batch_run(&c, items, n, b->res, &at); /* pure C: b owns every result */
    call_end(d, &c);
    if (rc != MR_DB_READY || PQstatus(d->conn) == CONNECTION_BAD) {
        int failed = at;
        for (int i = 0; i < n; i++) {
            if (b->res[i] != NULL && is_failure(PQresultStatus(b->res[i]))) {
                failed = i;
                break;
            }
        }
        if (rc != MR_DB_READY)
            push_gone(L, d, rc); // [.., err]  (closed)
        else
            push_result_error(L, d, b->res[failed], d->cancelled);
        lua_pushinteger(L, failed + 1);
        lua_setfield(L, -2, "index");
        batch_clear(b); /* every result cleared before raising */
        return throw_error(L, 1, d);
    }
    for (int i = 0; i < n; i++) {
        if (b->res[i] != NULL && !is_failure(PQresultStatus(b->res[i])))
            continue;
        push_result_error(L, d, b->res[i], d->cancelled); // [.., err]
        lua_pushinteger(L, i + 1);
        lua_setfield(L, -2, "index");
        batch_clear(b);
        return throw_error(L, 1, d);
    }
    lua_createtable(L, n, 0); // [.., b, out]
    for (int i = 0; i < n; i++) {
        push_query_result(L, b->res[i]); // [.., b, out, res]
        lua_rawseti(L, -2, i + 1);       // [.., b, out]
        PQclear(b->res[i]);
        b->res[i] = NULL;
    }
    finish_call(L, 1, d);
    return 1;
}

/* ---- send, wait: a statement watched while it runs ------------------------------------ */

/* conn:send(sql, ...) -> nothing. Starts sql ($n parameters as conn:query takes them) and
** returns at once. The connection is then busy: its other methods raise "connection is busy"
** until conn:wait() has returned the result or raised; conn:cancel(), conn:close() (which
** cancels the statement), status(), notices() and set_client_timeout() still work. Raises
** before anything runs as conn:query does: kind="usage" for a NUL byte, a plain error for a
** bad parameter or a COPY (one inside a multi-statement string is refused by conn:wait()),
** kind="connection" when the connection is gone. */
static int l_db_send(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = check_sql(L, 2);
    int n;
    const char **vals = build_params(L, 3, &n);
    if (is_copy(sql))
        return luaL_error(L, "%s", copy_misuse);
    clear_pending(d);
    int sent = n == 0 ? PQsendQuery(d->conn, sql)
                      : PQsendQueryParams(d->conn, sql, n, NULL, vals, NULL, NULL, 0);
    if (!sent)
        return raise_send(L, d);
    PQflush(d->conn); /* what the socket can't take now, conn:wait() sends; a failure too */
    d->sending = 1;
    d->since = mr_clock_now();
    d->busy = "a statement started by conn:send() is running (conn:wait() for it)";
    return 0;
}

/* conn:send_all(sql) -> nothing. conn:send() for a string of several statements (the
** simple protocol: no parameters) whose every result is wanted: the conn:wait() that ends it
** returns {result, ...}, one per statement that ran, each shaped as conn:query's; the server
** stops at the first statement that fails, whose migrun.error then stands in its place, with
** list.failed = its 1-based position. A lost connection or a client timeout raises, as in
** conn:wait(). Lets a caller send a statement and the checks that follow it in one flight. */
static int l_db_send_all(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = check_sql(L, 2);
    luaL_argcheck(L, lua_gettop(L) == 2, 3, "conn:send_all() takes no parameters");
    clear_pending(d);
    if (!PQsendQuery(d->conn, sql))
        return raise_send(L, d);
    PQflush(d->conn);
    d->sending = 2;
    d->since = mr_clock_now();
    d->busy = "a statement started by conn:send_all() is running (conn:wait() for it)";
    return 0;
}

/* The end of a conn:send_all(): push its list of results (see there), or raise. */
static int push_all(lua_State *L, l_db *d)
{
    PGresult *last = d->nall > 0 ? d->all[d->nall - 1] : NULL;
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_EMPTY_QUERY;
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        clear_pending(d);
        int rc = st == PGRES_COPY_IN ? drain(d) : cancel_copy(d);
        if (rc != MR_DB_READY)
            return raise_gone(L, d, rc);
        return luaL_error(L, "%s", copy_misuse);
    }
    if (PQstatus(d->conn) == CONNECTION_BAD) {
        push_result_error(L, d, last, d->cancelled); // [db, err]
        clear_pending(d);
        return throw_error(L, 1, d);
    }
    lua_createtable(L, d->nall, 1); // [db, list]
    for (int i = 0; i < d->nall; i++) {
        if (is_failure(PQresultStatus(d->all[i]))) {
            push_result_error(L, d, d->all[i], d->cancelled);
            lua_pushinteger(L, i + 1);
            lua_setfield(L, -3, "failed");
        } else {
            push_query_result(L, d->all[i]);
        }
        lua_rawseti(L, -2, i + 1);
    }
    clear_pending(d);
    finish_call(L, 1, d);
    return 1;
}

/* conn:wait([ms]) -> result | nil, "running". Waits at most ms milliseconds (0: one look;
** nil: as long as it takes) for the statement conn:send() started. Its result is shaped as
** conn:query's, and its failure raises as conn:query's would: kind="sql" with every field,
** kind="connection" with lost=true, timed_out=true for the client timeout, which counts the
** server's silence since the send, across waits. The wait that ends the statement delivers
** its notices and frees the connection. Ctrl-C cancels the statement, as in conn:query.
** Raises a plain error when no statement was sent. d->pending owns what is read meanwhile. */
static int l_db_wait(lua_State *L)
{
    l_db *d = check_db(L, 1);
    lua_Integer ms = luaL_opt(L, luaL_checkinteger, 2, -1);
    luaL_argcheck(L, ms >= 0 || lua_isnoneornil(L, 2), 2, "milliseconds must not be negative");
    if (ms > 1000000000000) /* about 30 years: ns must not overflow */
        ms = 1000000000000;
    if (d->conn == NULL)
        return luaL_argerror(L, 1, "connection is closed");
    if (!d->sending) {
        if (d->busy)
            return luaL_error(L, "connection is busy: %s", d->busy);
        return luaL_error(L, "conn:wait(): no statement is running (conn:send() starts one)");
    }
    lua_settop(L, 1);
    mr_db_call c;
    call_begin(d, &c);
    c.keep_since = 1; /* the silence began at the send, or when the server last spoke */
    c.since = d->since;
    c.cancelled = d->cancelled;
    if (ms >= 0)
        c.until = mr_clock_now() + (int64_t)ms * 1000000;
    int all = d->sending == 2;
    /* pure C: the db owns what is kept */
    int rc = all ? collect_all(&c, d) : collect(&c, &d->pending);
    call_end(d, &c);
    d->since = c.since;
    if (rc == MR_DB_PENDING) {
        lua_pushnil(L);
        lua_pushliteral(L, "running");
        return 2;
    }
    d->sending = 0;
    d->busy = NULL;
    if (rc != MR_DB_READY)
        return raise_gone(L, d, rc);
    if (all)
        return push_all(L, d);
    PGresult *r = checked_result(L, d);
    push_query_result(L, r); // [db, res]
    clear_pending(d);
    finish_call(L, 1, d);
    return 1;
}

/* ---- the rest of the methods ---------------------------------------------------------- */

/* conn:set_client_timeout(ms | nil) -> the previous limit (nil when none). The longest the
** client waits in silence for the server; then the query is cancelled, and if no answer comes
** 2 s later the connection is closed and the call raises kind="connection", lost=true,
** timed_out=true. A query the cancel stops raises its SQL error (57014) with timed_out=true.
** nil or 0: no limit. */
static int l_db_set_client_timeout(lua_State *L)
{
    l_db *d = check_db(L, 1);
    lua_Integer ms = luaL_opt(L, luaL_checkinteger, 2, 0);
    luaL_argcheck(L, ms >= 0, 2, "milliseconds must not be negative");
    if (ms > 1000000000000) /* about 30 years: ns must not overflow */
        ms = 1000000000000;
    if (d->timeout_ms > 0)
        lua_pushinteger(L, (lua_Integer)d->timeout_ms);
    else
        lua_pushnil(L);
    d->timeout_ms = ms;
    return 1;
}

/* conn:cancel() -> true | false, message: asks the server to cancel the running query (also
** one started by conn:send(): the conn:wait() that ends it raises 57014) */
static int l_db_cancel(lua_State *L)
{
    l_db *d = check_db(L, 1);
    char err[256] = "";
    if (d->conn == NULL || d->cancel == NULL || !PQcancel(d->cancel, err, sizeof err)) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, d->conn ? err : "connection is closed");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Push a PQescape* result and free it; d owns it meanwhile, so a raising push leaks nothing. */
static int push_escaped(lua_State *L, l_db *d, char *q, const char *what)
{
    if (q == NULL)
        return luaL_error(L, "%s: %s", what, PQerrorMessage(d->conn));
    d->pqmem = q;
    lua_pushstring(L, q);
    PQfreemem(d->pqmem);
    d->pqmem = NULL;
    return 1;
}

/* conn:quote_ident(s) -> "s" (PQescapeIdentifier, with the connection's encoding); raises
** kind="usage" for a NUL byte (libpq would drop what follows it) */
static int l_db_quote_ident(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    refuse_nul(L, s, len, "the identifier", 0, 0);
    return push_escaped(L, d, PQescapeIdentifier(d->conn, s, len), "quote_ident");
}

/* conn:quote_literal(s) -> 's' (PQescapeLiteral; E'' when s holds a backslash); raises
** kind="usage" for a NUL byte */
static int l_db_quote_literal(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    refuse_nul(L, s, len, "the literal", 0, 0);
    return push_escaped(L, d, PQescapeLiteral(d->conn, s, len), "quote_literal");
}

/* conn:server_version() -> integer such as 150018 */
static int l_db_server_version(lua_State *L)
{
    lua_pushinteger(L, PQserverVersion(check_open_db(L, 1)->conn));
    return 1;
}

/* conn:status() -> "idle" | "active" | "intrans" | "inerror" | "unknown" | "broken" | "closed" */
static int l_db_status(lua_State *L)
{
    l_db *d = check_db(L, 1);
    if (d->connecting)
        finish_connect(L, d);
    static const char *const names[] = {"idle", "active", "intrans", "inerror", "unknown"};
    if (d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK) {
        lua_pushstring(L, d->conn ? "broken" : "closed");
        return 1;
    }
    PGTransactionStatusType t = PQtransactionStatus(d->conn);
    lua_pushstring(L, (size_t)t < MR_COUNT(names) ? names[t] : "unknown");
    return 1;
}

/* conn:backend_pid() -> integer */
static int l_db_backend_pid(lua_State *L)
{
    lua_pushinteger(L, PQbackendPID(check_open_db(L, 1)->conn));
    return 1;
}

/* conn:info() -> {user, host, port, dbname} (never the password) */
static int l_db_info(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    lua_createtable(L, 0, 4);
    const char *parts[][2] = {
        {"user",   PQuser(d->conn)},
        {"host",   PQhost(d->conn)},
        {"port",   PQport(d->conn)},
        {"dbname", PQdb(d->conn)  }
    };
    for (size_t i = 0; i < MR_COUNT(parts); i++) {
        lua_pushstring(L, parts[i][1] ? parts[i][1] : "");
        lua_setfield(L, -2, parts[i][0]);
    }
    return 1;
}

/* conn:notices(fn | nil) -> previous handler; fn(notice) runs after each call returns */
static int l_db_notices(lua_State *L)
{
    check_db(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1); // [db, fn, old]
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, 1);
    return 1;
}

/* conn:close(); __gc; __close. Idempotent, never raises. A statement still running is
** cancelled first (one conn:send() started and no conn:wait() ended, or a conn:rows() loop
** that an error left before its stream was closed): closing the socket does not stop it, the
** server would run it to its end. */
static int l_db_gc(lua_State *L)
{
    l_db *d = check_db(L, 1);
    d->connecting = 0; /* a connection not finished yet is dropped: PQfinish below */
    if (d->conn != NULL && d->cancel != NULL && PQstatus(d->conn) == CONNECTION_OK &&
        PQtransactionStatus(d->conn) == PQTRANS_ACTIVE) {
        char err[256];
        PQcancel(d->cancel, err, sizeof err); /* returns once the server has the request */
    }
    d->sending = 0;
    clear_pending(d);
    PQfreemem(d->pqmem);
    d->pqmem = NULL;
    mr_notice_free(d->notice);
    d->notice = NULL;
    mr_notices_clear(&d->notices);
    d->busy = NULL;
    if (d->conn == NULL)
        return 0;
    if (mr_db_active_cancel == d->cancel)
        mr_db_active_cancel = NULL;
    PQfreeCancel(d->cancel);
    d->cancel = NULL;
    PQfinish(d->conn); /* nonblocking: its goodbye can't hang */
    d->conn = NULL;
    return 0;
}

/* tostring(conn) -> "migrun.db (user@host:port/db)" or "migrun.db (closed)" */
static int l_db_tostring(lua_State *L)
{
    l_db *d = check_db(L, 1);
    if (d->conn == NULL)
        lua_pushliteral(L, "migrun.db (closed)");
    else
        lua_pushfstring(L, "migrun.db (%s@%s:%s/%s)", PQuser(d->conn), PQhost(d->conn),
                        PQport(d->conn), PQdb(d->conn));
    return 1;
}

/* core.connect([conninfo [, defaults [, async]]]) -> conn; defaults are keywords a conninfo
** may override; raises migrun.error{kind="connection"} naming host, port and db, never a
** password. async: only start connecting (the server starts its backend meanwhile); the first
** method that needs the connection finishes it, and raises there what connect would have. */
static int l_db_connect(lua_State *L)
{
    size_t clen = 0;
    const char *conninfo = luaL_optlstring(L, 1, NULL, &clen);
    int has_defaults = !lua_isnoneornil(L, 2);
    if (has_defaults)
        luaL_checktype(L, 2, LUA_TTABLE);
    if (conninfo != NULL && memchr(conninfo, '\0', clen) != NULL)
        return mr_l_raise(L, "usage", "the connection string contains a NUL byte");
    if (conninfo != NULL && conninfo[0] != '\0') {
        char *err = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
        if (opts == NULL) {
            /* copy and free libpq's message before any Lua call (they can raise) */
            char *red = mr_url_redact(conninfo);
            int secret = red == NULL || strcmp(red, conninfo) != 0;
            char msg[512];
            snprintf(msg, sizeof msg, "%s", err ? err : "out of memory");
            PQfreemem(err);
            free(red);
            /* libpq quotes the bad fragment, which may be part of a password */
            push_conn_error(L, NULL,
                            secret ? "invalid connection string (details withheld: "
                                     "it contains a password)"
                                   : msg,
                            0);
            return lua_error(L);
        }
        PQconninfoFree(opts);
    }
    int n = 0;
    if (has_defaults) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pop(L, 1);
            n++;
        }
    }
    /* keyword arrays are GC'd scratch; the strings live in the defaults table */
    const char **kw = lua_newuserdatauv(L, (size_t)(n + 2) * sizeof *kw, 0);
    const char **val = lua_newuserdatauv(L, (size_t)(n + 2) * sizeof *val, 0);
    int i = 0;
    if (has_defaults) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_argerror(L, 2, "defaults must map keyword strings to strings");
            kw[i] = lua_tostring(L, -2);
            val[i] = lua_tostring(L, -1);
            i++;
            lua_pop(L, 1);
        }
    }
    /* dbname last: keywords processed later win, so the conninfo overrides the defaults */
    kw[i] = "dbname";
    val[i] = conninfo;
    kw[i + 1] = NULL;
    val[i + 1] = NULL;
    l_db *d = lua_newuserdatauv(L, sizeof *d, 1); // [.., db]
    *d = (l_db){0};
    luaL_setmetatable(L, MR_DB_MT); /* __gc armed before PQconnectdb */
    int async = lua_toboolean(L, 3);
    d->conn = async ? PQconnectStartParams(kw, val, 1) : PQconnectdbParams(kw, val, 1);
    if (d->conn == NULL)
        return luaL_error(L, "out of memory");
    if (async && PQstatus(d->conn) != CONNECTION_BAD) {
        /* the startup packet goes now, while the socket takes it without waiting: the server
        ** authenticates and starts the backend meanwhile */
        PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* as the libpq manual begins */
        for (int i = 0; i < 4 && st == PGRES_POLLING_WRITING; i++) {
            struct pollfd p = {PQsocket(d->conn), POLLOUT, 0};
            if (p.fd < 0 || poll(&p, 1, 0) != 1)
                break;
            st = PQconnectPoll(d->conn);
        }
        d->poll_state = (int)st;
        d->connecting = 1; /* the first method that needs it finishes it */
        return 1;
    }
    if (PQstatus(d->conn) != CONNECTION_OK) {
        push_conn_error(L, d->conn, PQerrorMessage(d->conn), 0);
        PQfinish(d->conn);
        d->conn = NULL;
        return lua_error(L);
    }
    connected(d);
    return 1;
}

/* core.redact(s) -> s with any password replaced by *** */
static int l_db_redact(lua_State *L)
{
    char *r = mr_url_redact(luaL_checkstring(L, 1));
    if (r == NULL)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, r);
    free(r);
    return 1;
}

static const luaL_Reg db_meta[] = {
    {"__index",    NULL         }, /* placeholder: the method table */
    {"__gc",       l_db_gc      },
    {"__close",    l_db_gc      },
    {"__tostring", l_db_tostring},
    {NULL,         NULL         },
};

static const luaL_Reg db_methods[] = {
    {"query",              l_db_query             },
    {"exec",               l_db_exec              },
    {"rows",               l_db_rows              },
    {"batch",              l_db_batch             },
    {"send",               l_db_send              },
    {"send_all",           l_db_send_all          },
    {"wait",               l_db_wait              },
    {"copy_out",           l_db_copy_out          },
    {"copy_in",            l_db_copy_in           },
    {"cancel",             l_db_cancel            },
    {"set_client_timeout", l_db_set_client_timeout},
    {"quote_ident",        l_db_quote_ident       },
    {"quote_literal",      l_db_quote_literal     },
    {"server_version",     l_db_server_version    },
    {"status",             l_db_status            },
    {"backend_pid",        l_db_backend_pid       },
    {"info",               l_db_info              },
    {"notices",            l_db_notices           },
    {"close",              l_db_gc                },
    {NULL,                 NULL                   },
};

static const luaL_Reg stream_meta[] = {
    {"__gc",    l_stream_gc  },
    {"__close", l_stream_gc  },
    {"__call",  l_stream_next},
    {NULL,      NULL         },
};

static const luaL_Reg batch_meta[] = {
    {"__gc", l_batch_gc},
    {NULL,   NULL      },
};

static const luaL_Reg db_funcs[] = {
    {"connect", l_db_connect},
    {"redact",  l_db_redact },
    {NULL,      NULL        },
};

int luaopen_migrun_core_db(lua_State *L)
{
    luaL_newmetatable(L, MR_STREAM_MT);
    luaL_setfuncs(L, stream_meta, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, MR_BATCH_MT);
    luaL_setfuncs(L, batch_meta, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, MR_DB_MT); // [mt]
    luaL_setfuncs(L, db_meta, 0);
    luaL_newlib(L, db_methods);      // [mt, methods]
    lua_pushvalue(L, -1);            // [mt, methods, methods]
    lua_setfield(L, -3, "__index");  // [mt, methods]
    luaL_newlib(L, db_funcs);        // [mt, methods, M]
    lua_insert(L, -2);               // [mt, M, methods]
    lua_setfield(L, -2, "methods");  /* Lua adds tx, script, set here */
    lua_remove(L, -2);               // [M]
    mr_l_error_mt(L);                // [M, errmt]
    lua_setfield(L, -2, "error_mt"); /* migrun.errors fills in __tostring */
    return 1;
}
