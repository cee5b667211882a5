/*
** l_db.c: the libpq binding, migrun.core.db (binding layer: checks, conversion, errors).
** It makes no decisions: transactions, scripts, retries and messages live in lua/migrun/db.lua.
** Every PGresult is owned by a userdata that __gc reaches (d->pending, s->cur) until cleared.
*/
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "db.h"
#include "mr.h"

typedef struct {
    PGconn *conn;          /* NULL once closed; closing twice is a no-op. Kept first: older
                           ** bindings read it there (use mr_db_checkconn instead) */
    PGcancel *cancel;      /* for conn:cancel() and the SIGINT handler */
    PGresult *pending;     /* the result being converted; cleared before the next call */
    char *pqmem;           /* libpq memory being handed to Lua (COPY data, escaped strings) */
    mr_notice *notice;     /* a notice being handed to Lua */
    mr_notices notices;    /* filled by libpq's notice receiver, drained after each call */
    const char *busy;      /* set while a rows() loop or a COPY callback owns the connection */
} l_db;

typedef struct {
    l_db *db;              /* NULL once the stream is finished */
    PGresult *cur;         /* the row being converted */
} l_stream;

/* user values of a migrun.db: 1 = notice handler; of a migrun.stream: 1 = its db, 2 = names */

static const char *const type_names[][2] = {
    {"16", "bool"}, {"17", "bytea"}, {"18", "char"}, {"19", "name"}, {"20", "int8"},
    {"21", "int2"}, {"23", "int4"}, {"25", "text"}, {"26", "oid"}, {"114", "json"},
    {"142", "xml"}, {"700", "float4"}, {"701", "float8"}, {"1042", "bpchar"},
    {"1043", "varchar"}, {"1082", "date"}, {"1083", "time"}, {"1114", "timestamp"},
    {"1184", "timestamptz"}, {"1186", "interval"}, {"1266", "timetz"}, {"1700", "numeric"},
    {"2950", "uuid"}, {"3802", "jsonb"}, {"1009", "text[]"}, {"1007", "int4[]"},
    {"1016", "int8[]"}, {"869", "inet"}, {"650", "cidr"}, {"2205", "regclass"},
    {"705", "unknown"}, {"2249", "record"}, {"1005", "int2[]"}, {"1015", "varchar[]"},
};

enum { T_TEXT, T_INT, T_FLOAT, T_BOOL };

static int type_kind(Oid oid)
{
    switch (oid) {
    case 20: case 21: case 23: case 26:   /* int8 int2 int4 oid */
        return T_INT;
    case 700: case 701:                   /* float4 float8 */
        return T_FLOAT;
    case 16:                              /* bool */
        return T_BOOL;
    default:
        return T_TEXT;
    }
}

static l_db *check_db(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, MR_DB_MT);
}

static l_db *check_open_db(lua_State *L, int idx)
{
    l_db *d = check_db(L, idx);
    if (d->conn == NULL)
        luaL_argerror(L, idx, "connection is closed");
    if (d->busy)
        luaL_error(L, "connection is busy: %s", d->busy);
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
}

/* Push one notice as {severity, sqlstate, message, detail, hint, context}. */
static void push_notice(lua_State *L, const mr_notice *n)
{
    const char *fields[][2] = {{"severity", n->severity}, {"sqlstate", n->sqlstate},
                               {"message", n->message}, {"detail", n->detail},
                               {"hint", n->hint}, {"context", n->context}};
    lua_createtable(L, 0, (int)MR_COUNT(fields));    // [notice]
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
    if (lua_getiuservalue(L, dbidx, 1) != LUA_TFUNCTION) {   // [handler]
        lua_pop(L, 1);
        mr_notices_clear(&d->notices);
        return LUA_OK;
    }
    while ((d->notice = mr_notices_pop(&d->notices)) != NULL) {
        lua_pushvalue(L, -1);                        // [handler, handler]
        push_notice(L, d->notice);                   // [handler, handler, notice]
        mr_notice_free(d->notice);
        d->notice = NULL;
        int st = lua_pcall(L, 1, 0, 0);              // [handler] or [handler, err]
        if (st != LUA_OK) {
            lua_remove(L, -2);                       // [err]
            mr_notices_clear(&d->notices);
            return st;
        }
    }
    lua_pop(L, 1);                                   // []
    return LUA_OK;
}

/* The end of every successful call: deliver notices; a handler's error propagates. */
static void finish_call(lua_State *L, int dbidx, l_db *d)
{
    if (dispatch_notices(L, dbidx, d) != LUA_OK)
        lua_error(L);
}

static const struct {
    int code;
    const char *key;
} pg_fields[] = {
    {PG_DIAG_SQLSTATE, "sqlstate"},
    {PG_DIAG_SEVERITY_NONLOCALIZED, "severity"},
    {PG_DIAG_MESSAGE_PRIMARY, "message"},
    {PG_DIAG_MESSAGE_DETAIL, "detail"},
    {PG_DIAG_MESSAGE_HINT, "hint"},
    {PG_DIAG_INTERNAL_QUERY, "internal_query"},
    {PG_DIAG_CONTEXT, "where"},
    {PG_DIAG_SCHEMA_NAME, "schema"},
    {PG_DIAG_TABLE_NAME, "table"},
    {PG_DIAG_COLUMN_NAME, "column"},
    {PG_DIAG_DATATYPE_NAME, "datatype"},
    {PG_DIAG_CONSTRAINT_NAME, "constraint"},
};

/* Push a migrun.error {kind="connection", message, host, port, dbname, user [, lost]}. The
** message is libpq's, trimmed, with the connection's password (if any) masked: libpq quotes
** option values in some messages. lost=true: the connection broke after it was made. */
static void push_conn_error(lua_State *L, PGconn *conn, const char *message, int lost)
{
    lua_createtable(L, 0, 7);                        // [err]
    lua_pushliteral(L, "connection");
    lua_setfield(L, -2, "kind");
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
        len--;                                       /* libpq ends messages with a newline */
    lua_pushlstring(L, message, len);                // [err, msg]
    const char *pass = conn ? PQpass(conn) : NULL;
    if (pass && pass[0]) {
        luaL_gsub(L, lua_tostring(L, -1), pass, "***");   // [err, msg, masked]
        lua_remove(L, -2);                           // [err, masked]
    }
    lua_setfield(L, -2, "message");                  // [err]
    if (lost) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "lost");
    }
    if (conn != NULL) {
        const char *parts[][2] = {{"host", PQhost(conn)}, {"port", PQport(conn)},
                                  {"dbname", PQdb(conn)}, {"user", PQuser(conn)}};
        for (size_t i = 0; i < MR_COUNT(parts); i++) {
            if (parts[i][1] && parts[i][1][0]) {
                lua_pushstring(L, parts[i][1]);
                lua_setfield(L, -2, parts[i][0]);
            }
        }
    }
    luaL_setmetatable(L, MR_ERROR_MT);
}

/* Raise the error held in *res (owned by the db at dbidx); clears it, delivers the notices
** that came before it (a failing handler can't hide the SQL error), then raises. A result
** without SQLSTATE is libpq's own: kind="connection" when the connection broke, else "sql". */
static int raise_result(lua_State *L, int dbidx, l_db *d, PGresult **res)
{
    dbidx = lua_absindex(L, dbidx);
    PGconn *conn = d->conn;
    if (*res == NULL || PQresultErrorField(*res, PG_DIAG_SQLSTATE) == NULL) {
        const char *msg = *res ? PQresultErrorMessage(*res) : "";
        if (msg[0] == '\0')
            msg = conn ? PQerrorMessage(conn) : "connection is closed";
        if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
            push_conn_error(L, conn, msg, 1);        // [err]
        } else {
            lua_createtable(L, 0, 2);                // [err]
            lua_pushliteral(L, "sql");
            lua_setfield(L, -2, "kind");
            size_t len = strlen(msg);
            while (len > 0 && msg[len - 1] == '\n')
                len--;
            lua_pushlstring(L, msg, len);
            lua_setfield(L, -2, "message");
            luaL_setmetatable(L, MR_ERROR_MT);
        }
    } else {
        lua_createtable(L, 0, 16);                   // [err]
        lua_pushliteral(L, "sql");
        lua_setfield(L, -2, "kind");
        for (size_t i = 0; i < MR_COUNT(pg_fields); i++) {
            const char *v = PQresultErrorField(*res, pg_fields[i].code);
            if (v) {
                lua_pushstring(L, v);
                lua_setfield(L, -2, pg_fields[i].key);
            }
        }
        const char *pos = PQresultErrorField(*res, PG_DIAG_STATEMENT_POSITION);
        if (pos) {
            lua_pushinteger(L, atoi(pos));
            lua_setfield(L, -2, "position");
        }
        pos = PQresultErrorField(*res, PG_DIAG_INTERNAL_POSITION);
        if (pos) {
            lua_pushinteger(L, atoi(pos));
            lua_setfield(L, -2, "internal_position");
        }
        luaL_setmetatable(L, MR_ERROR_MT);
    }
    PQclear(*res);
    *res = NULL;
    if (dispatch_notices(L, dbidx, d) != LUA_OK)     // [err] or [err, handler_err]
        lua_pop(L, 1);
    return lua_error(L);
}

/* Raise a non-SQL failure (a file that won't open, a COPY misuse) as migrun.error{kind=...}. */
static int raise_kind(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_createtable(L, 0, 2);                        // [err]
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushvfstring(L, fmt, ap);
    lua_setfield(L, -2, "message");
    va_end(ap);
    luaL_setmetatable(L, MR_ERROR_MT);
    return lua_error(L);
}

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
        lua_pushnumber(L, (lua_Number)strtod(v, NULL));   /* NaN, Infinity, -Infinity too */
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
    lua_createtable(L, n, 0);                        // [names]
    lua_createtable(L, 0, n);                        // [names, seen]
    for (int i = 0; i < n; i++) {
        const char *name = PQfname(r, i);
        lua_pushstring(L, name);                     // [names, seen, cand]
        for (int k = 2;; k++) {
            lua_pushvalue(L, -1);                    // [names, seen, cand, cand]
            if (lua_rawget(L, -3) == LUA_TNIL) {     // [names, seen, cand, seen[cand]]
                lua_pop(L, 1);
                break;
            }
            lua_pop(L, 2);                           // [names, seen]
            lua_pushfstring(L, "%s_%d", name, k);    // [names, seen, cand]
        }
        lua_pushvalue(L, -1);                        // [names, seen, cand, cand]
        lua_pushboolean(L, 1);
        lua_rawset(L, -4);                           // [names, seen, cand]
        lua_rawseti(L, -3, i + 1);                   // [names, seen]
    }
    lua_pop(L, 1);                                   // [names]
}

static void push_row(lua_State *L, const PGresult *r, int row, int names)
{
    int n = PQnfields(r);
    lua_createtable(L, 0, n);                        // [row]
    for (int c = 0; c < n; c++) {
        if (PQgetisnull(r, row, c))
            continue;
        lua_rawgeti(L, names, c + 1);                // [row, name]
        push_value(L, r, row, c);                    // [row, name, value]
        lua_rawset(L, -3);                           // [row]
    }
}

static lua_Integer cmd_tuples(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)r);
    return t[0] ? (lua_Integer)strtoll(t, NULL, 10) : 0;
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
    const char **vals = lua_newuserdatauv(L, (size_t)n * sizeof *vals, 0);   /* GC'd scratch */
    for (int i = 0; i < n; i++) {
        int idx = first + i;
        switch (lua_type(L, idx)) {
        case LUA_TNIL:
            vals[i] = NULL;
            break;
        case LUA_TBOOLEAN:
            vals[i] = lua_toboolean(L, idx) ? "true" : "false";
            break;
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
            lua_replace(L, idx);                     /* the string stays alive in the slot */
            vals[i] = lua_tostring(L, idx);
            break;
        case LUA_TSTRING: {
            size_t len;
            vals[i] = lua_tolstring(L, idx, &len);
            if (strlen(vals[i]) != len)              /* text parameters end at a NUL */
                luaL_argerror(L, idx, lua_pushfstring(L, "parameter $%d holds a NUL byte "
                                                      "(send bytea as hex text)", i + 1));
            break;
        }
        default:
            luaL_argerror(L, idx, lua_pushfstring(L, "parameter $%d: cannot send a %s",
                                                  i + 1, luaL_typename(L, idx)));
        }
    }
    return vals;
}

/* Drain what is left of a query, with Ctrl-C able to cancel a long drain. */
static void drain(l_db *d)
{
    mr_db_active_cancel = d->cancel;
    mr_db_drain(d->conn);
    mr_db_active_cancel = NULL;
}

/* Abandon a COPY TO STDOUT: ask the server to stop, then read what is left. */
static void cancel_copy(l_db *d)
{
    char err[256];
    if (d->cancel)
        PQcancel(d->cancel, err, sizeof err);
    drain(d);
}

/* Run sql with the parameters from index 3 on; the result is d->pending on return (owned by
** the db at index 1); a failure raises. */
static PGresult *run(lua_State *L, l_db *d)
{
    const char *sql = luaL_checkstring(L, 2);
    int n;
    const char **vals = build_params(L, 3, &n);
    clear_pending(d);
    mr_db_active_cancel = d->cancel;
    d->pending = n == 0 ? PQexec(d->conn, sql)
                        : PQexecParams(d->conn, sql, n, NULL, vals, NULL, NULL, 0);
    mr_db_active_cancel = NULL;
    switch (PQresultStatus(d->pending)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return d->pending;
    case PGRES_COPY_IN:
        clear_pending(d);
        drain(d);                                    /* ends the COPY without data */
        luaL_error(L, "COPY needs conn:copy_in() or conn:copy_out(), not query() or exec()");
        return NULL;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        clear_pending(d);
        cancel_copy(d);                              /* don't read a whole table to refuse it */
        luaL_error(L, "COPY needs conn:copy_in() or conn:copy_out(), not query() or exec()");
        return NULL;
    default:
        raise_result(L, 1, d, &d->pending);
        return NULL;
    }
}

/* Push the type names of r's columns ("int4", or the OID as a string when not well known). */
static void push_types(lua_State *L, const PGresult *r)
{
    int ncols = PQnfields(r);
    lua_createtable(L, ncols, 0);                    // [types]
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

/* conn:query(sql, ...) -> {[i]=row, n, ncols, columns, types, command, affected};
** raises migrun.error. The PGresult stays owned by the db until it is converted. */
static int l_db_query(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    PGresult *r = run(L, d);
    int nrows = PQntuples(r), ncols = PQnfields(r);
    lua_createtable(L, nrows, 7);                    // [res]
    push_names(L, r);                                // [res, names]
    int names = lua_gettop(L);
    for (int i = 0; i < nrows; i++) {
        push_row(L, r, i, names);                    // [res, names, row]
        lua_rawseti(L, -3, i + 1);                   // [res, names]
    }
    lua_setfield(L, -2, "columns");                  // [res]
    push_types(L, r);                                // [res, types]
    lua_setfield(L, -2, "types");                    // [res]
    lua_pushinteger(L, nrows);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, ncols);
    lua_setfield(L, -2, "ncols");
    lua_pushstring(L, PQcmdStatus(r));
    lua_setfield(L, -2, "command");
    lua_pushinteger(L, cmd_tuples(r));
    lua_setfield(L, -2, "affected");
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

/* End a stream and give the connection back. With cancel (break, error in the loop body,
** __gc), rows that have already arrived are dropped without blocking; if the server is still
** sending, the query is cancelled, so a huge result is not read to its end. Never raises. */
static void stream_finish(l_stream *s, int cancel)
{
    PQclear(s->cur);
    s->cur = NULL;
    l_db *d = s->db;
    if (d == NULL)
        return;
    s->db = NULL;
    d->busy = NULL;
    if (d->conn == NULL)
        return;
    if (cancel) {
        /* one read of what the socket holds, then only what is parsed: reading in the loop
        ** would chase a server that sends faster than we drop rows, buffer growing */
        PQconsumeInput(d->conn);
        while (!PQisBusy(d->conn)) {
            PGresult *r = PQgetResult(d->conn);
            if (r == NULL)
                return;                              /* the query had already finished */
            PQclear(r);
        }
        char err[256];
        if (d->cancel)
            PQcancel(d->cancel, err, sizeof err);
    }
    drain(d);
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
    mr_db_active_cancel = d->cancel;
    s->cur = PQgetResult(d->conn);
    mr_db_active_cancel = NULL;
    switch (PQresultStatus(s->cur)) {
    case PGRES_SINGLE_TUPLE:
        if (lua_getiuservalue(L, 1, 2) == LUA_TNIL) {    // [names | nil]
            lua_pop(L, 1);
            push_names(L, s->cur);                   // [names]
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 2);
        }
        push_row(L, s->cur, 0, lua_gettop(L));       // [names, row]
        PQclear(s->cur);
        s->cur = NULL;
        return 1;
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        stream_finish(s, 0);
        lua_getiuservalue(L, 1, 1);                  // [db]
        finish_call(L, -1, d);
        return 0;
    default: {
        clear_pending(d);                            /* the error moves to the connection */
        d->pending = s->cur;
        s->cur = NULL;
        stream_finish(s, 0);
        lua_getiuservalue(L, 1, 1);                  // [db]
        return raise_result(L, -1, d, &d->pending);
    }
    }
}

/* conn:rows(sql, ...) -> iterator, stream, nil, stream (the stream is the loop's closing
** value, so break and errors end the query); streams in flat memory (single-row mode). The
** connection is busy until the loop ends. */
static int l_db_rows(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    int n;
    const char **vals = build_params(L, 3, &n);
    l_stream *s = lua_newuserdatauv(L, sizeof *s, 2);   // [.., stream]
    *s = (l_stream){0};
    luaL_setmetatable(L, MR_STREAM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);                     /* the stream keeps its db alive */
    clear_pending(d);
    if (!PQsendQueryParams(d->conn, sql, n, NULL, vals, NULL, NULL, 0)) {
        push_conn_error(L, d->conn, PQerrorMessage(d->conn), 1);
        return lua_error(L);
    }
    if (!PQsetSingleRowMode(d->conn)) {              /* else rows would arrive all at once */
        drain(d);
        return luaL_error(L, "conn:rows(): libpq refused single-row mode");
    }
    s->db = d;
    d->busy = "a conn:rows() loop is still open (finish or break it)";
    lua_pushcfunction(L, l_stream_next);             // [.., stream, next]
    lua_insert(L, -2);                               // [.., next, stream]
    lua_pushnil(L);                                  // [.., next, stream, nil]
    lua_pushvalue(L, -2);                            // [.., next, stream, nil, stream]
    return 4;
}

/* Finish a COPY whose data phase has ended: read the final result, return rows copied. */
static lua_Integer copy_result(lua_State *L, l_db *d)
{
    clear_pending(d);
    mr_db_active_cancel = d->cancel;
    d->pending = PQgetResult(d->conn);
    mr_db_active_cancel = NULL;
    if (PQresultStatus(d->pending) != PGRES_COMMAND_OK) {
        drain(d);
        raise_result(L, 1, d, &d->pending);
    }
    lua_Integer n = cmd_tuples(d->pending);
    clear_pending(d);
    drain(d);
    return n;
}

/* Start a COPY and check it went into the expected state; raises otherwise. */
static void copy_start(lua_State *L, l_db *d, const char *sql, ExecStatusType want)
{
    clear_pending(d);
    mr_db_active_cancel = d->cancel;
    d->pending = PQexec(d->conn, sql);
    mr_db_active_cancel = NULL;
    ExecStatusType st = PQresultStatus(d->pending);
    if (st == want) {
        clear_pending(d);
        return;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        clear_pending(d);
        if (st == PGRES_COPY_IN)
            drain(d);
        else
            cancel_copy(d);
        luaL_error(L, "expected %s", want == PGRES_COPY_OUT ? "COPY ... TO STDOUT"
                                                             : "COPY ... FROM STDIN");
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        clear_pending(d);
        luaL_error(L, "not a COPY statement");
    }
    raise_result(L, 1, d, &d->pending);
}

/* Raise for a libpq failure during COPY: the connection broke (kind="connection"). */
static int raise_copy_conn(lua_State *L, l_db *d)
{
    push_conn_error(L, d->conn, PQerrorMessage(d->conn), 1);
    drain(d);
    return lua_error(L);
}

/* conn:copy_out(sql, path | fn(chunk)) -> rows; raises migrun.error (kind "sql", or "io" for
** the file, or the callback's own error). A path is written 0600, streamed in C; fn gets each
** chunk (a row in text format) and may not use the connection meanwhile. */
static int l_db_copy_out(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    luaL_argexpected(L, lua_type(L, 3) == LUA_TSTRING || lua_isfunction(L, 3), 3,
                     "file path or function");
    lua_settop(L, 3);
    copy_start(L, d, sql, PGRES_COPY_OUT);
    if (lua_type(L, 3) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 3);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            int e = errno;
            cancel_copy(d);
            return raise_kind(L, "io", "%s: %s", path, strerror(e));
        }
        char err[512];
        mr_db_active_cancel = d->cancel;
        int rc = mr_db_copy_out_fd(d->conn, fd, err, sizeof err);
        mr_db_active_cancel = NULL;
        if (close(fd) < 0 && rc == 0) {
            snprintf(err, sizeof err, "close failed: %s", strerror(errno));
            rc = -1;
        }
        if (rc < 0) {
            if (PQstatus(d->conn) == CONNECTION_BAD)
                return raise_copy_conn(L, d);
            drain(d);
            return raise_kind(L, "io", "%s: %s", path, err);
        }
    } else {
        int len;
        d->busy = "a conn:copy_out() callback is running";
        for (;;) {
            mr_db_active_cancel = d->cancel;
            len = PQgetCopyData(d->conn, &d->pqmem, 0);
            mr_db_active_cancel = NULL;
            if (len <= 0)
                break;
            lua_pushvalue(L, 3);                     // [.., fn]
            lua_pushlstring(L, d->pqmem, (size_t)len);   // [.., fn, chunk]
            PQfreemem(d->pqmem);
            d->pqmem = NULL;
            if (lua_pcall(L, 1, 0, 0) != LUA_OK) {   // [.., err]
                d->busy = NULL;
                if (d->conn != NULL)
                    cancel_copy(d);
                return lua_error(L);
            }
            if (d->conn == NULL) {
                d->busy = NULL;
                return luaL_error(L, "the connection was closed during conn:copy_out()");
            }
        }
        d->busy = NULL;
        if (len == -2)
            return raise_copy_conn(L, d);
    }
    lua_Integer n = copy_result(L, d);
    finish_call(L, 1, d);
    lua_pushinteger(L, n);
    return 1;
}

/* Send one chunk of COPY data, in pieces libpq's int length can hold. 1, or 0 on failure. */
static int put_copy(PGconn *conn, const char *p, size_t len)
{
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (PQputCopyData(conn, p, n) != 1)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* conn:copy_in(sql, path | fn() -> chunk|nil) -> rows; raises migrun.error (kind "sql", or
** "io" for the file, or the callback's own error). The file is streamed in C; fn is called
** until it returns nil and may not use the connection meanwhile. An error aborts the COPY,
** so no row is loaded, and leaves the connection usable. */
static int l_db_copy_in(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    luaL_argexpected(L, lua_type(L, 3) == LUA_TSTRING || lua_isfunction(L, 3), 3,
                     "file path or function");
    lua_settop(L, 3);
    copy_start(L, d, sql, PGRES_COPY_IN);
    if (lua_type(L, 3) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 3);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            PQputCopyEnd(d->conn, "migrun could not open the input file");
            drain(d);
            return raise_kind(L, "io", "%s: %s", path, strerror(e));
        }
        char err[512];
        mr_db_active_cancel = d->cancel;
        int rc = mr_db_copy_in_fd(d->conn, fd, err, sizeof err);
        mr_db_active_cancel = NULL;
        close(fd);
        if (rc < 0) {
            if (PQstatus(d->conn) == CONNECTION_BAD)
                return raise_copy_conn(L, d);
            drain(d);
            return raise_kind(L, "io", "%s: %s", path, err);
        }
    } else {
        d->busy = "a conn:copy_in() callback is running";
        for (;;) {
            lua_pushvalue(L, 3);
            int st = lua_pcall(L, 0, 1, 0);          // [.., chunk | err]
            if (d->conn == NULL) {
                d->busy = NULL;
                return luaL_error(L, "the connection was closed during conn:copy_in()");
            }
            if (st != LUA_OK) {
                d->busy = NULL;
                PQputCopyEnd(d->conn, "aborted by an error in migrun");
                drain(d);
                return lua_error(L);
            }
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            if (lua_type(L, -1) != LUA_TSTRING) {
                d->busy = NULL;
                PQputCopyEnd(d->conn, "bad chunk from migrun");
                drain(d);
                return luaL_error(L, "copy_in: the function must return a string or nil, "
                                     "not a %s", luaL_typename(L, -1));
            }
            size_t len;
            const char *chunk = lua_tolstring(L, -1, &len);
            if (!put_copy(d->conn, chunk, len)) {
                d->busy = NULL;
                return raise_copy_conn(L, d);
            }
            lua_pop(L, 1);
        }
        d->busy = NULL;
        if (PQputCopyEnd(d->conn, NULL) != 1)
            return raise_copy_conn(L, d);
    }
    lua_Integer n = copy_result(L, d);
    finish_call(L, 1, d);
    lua_pushinteger(L, n);
    return 1;
}

/* conn:cancel() -> true | false, message: asks the server to cancel the running query */
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

/* conn:quote_ident(s) -> "s" (PQescapeIdentifier, with the connection's encoding) */
static int l_db_quote_ident(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    return push_escaped(L, d, PQescapeIdentifier(d->conn, s, len), "quote_ident");
}

/* conn:quote_literal(s) -> 's' (PQescapeLiteral; E'' when s holds a backslash) */
static int l_db_quote_literal(lua_State *L)
{
    l_db *d = check_open_db(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
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
    const char *parts[][2] = {{"user", PQuser(d->conn)}, {"host", PQhost(d->conn)},
                              {"port", PQport(d->conn)}, {"dbname", PQdb(d->conn)}};
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
    lua_getiuservalue(L, 1, 1);                      // [db, fn, old]
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, 1);
    return 1;
}

/* conn:close(); __gc; __close. Idempotent, never raises. */
static int l_db_gc(lua_State *L)
{
    l_db *d = check_db(L, 1);
    if (d->conn == NULL)
        return 0;
    clear_pending(d);
    PQfreemem(d->pqmem);
    d->pqmem = NULL;
    mr_notice_free(d->notice);
    d->notice = NULL;
    mr_notices_clear(&d->notices);
    if (mr_db_active_cancel == d->cancel)
        mr_db_active_cancel = NULL;
    PQfreeCancel(d->cancel);
    d->cancel = NULL;
    PQfinish(d->conn);
    d->conn = NULL;
    d->busy = NULL;
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

/* core.connect([conninfo [, defaults]]) -> conn; defaults are keywords a conninfo may
** override; raises migrun.error{kind="connection"} naming host, port and db, never a password */
static int l_db_connect(lua_State *L)
{
    const char *conninfo = luaL_optstring(L, 1, NULL);
    int has_defaults = !lua_isnoneornil(L, 2);
    if (has_defaults)
        luaL_checktype(L, 2, LUA_TTABLE);
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
            push_conn_error(L, NULL, secret ? "invalid connection string (details withheld: "
                                              "it contains a password)"
                                            : msg, 0);
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
    l_db *d = lua_newuserdatauv(L, sizeof *d, 1);   // [.., db]
    *d = (l_db){0};
    luaL_setmetatable(L, MR_DB_MT);                  /* __gc armed before PQconnectdb */
    d->conn = PQconnectdbParams(kw, val, 1);
    if (d->conn == NULL)
        return luaL_error(L, "out of memory");
    if (PQstatus(d->conn) != CONNECTION_OK) {
        push_conn_error(L, d->conn, PQerrorMessage(d->conn), 0);
        PQfinish(d->conn);
        d->conn = NULL;
        return lua_error(L);
    }
    d->cancel = PQgetCancel(d->conn);
    PQsetNoticeReceiver(d->conn, mr_notice_collect, &d->notices);
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
    {"__index", NULL},                               /* placeholder: the method table */
    {"__gc", l_db_gc},
    {"__close", l_db_gc},
    {"__tostring", l_db_tostring},
    {NULL, NULL},
};

static const luaL_Reg db_methods[] = {
    {"query", l_db_query},
    {"exec", l_db_exec},
    {"rows", l_db_rows},
    {"copy_out", l_db_copy_out},
    {"copy_in", l_db_copy_in},
    {"cancel", l_db_cancel},
    {"quote_ident", l_db_quote_ident},
    {"quote_literal", l_db_quote_literal},
    {"server_version", l_db_server_version},
    {"status", l_db_status},
    {"backend_pid", l_db_backend_pid},
    {"info", l_db_info},
    {"notices", l_db_notices},
    {"close", l_db_gc},
    {NULL, NULL},
};

static const luaL_Reg stream_meta[] = {
    {"__gc", l_stream_gc},
    {"__close", l_stream_gc},
    {"__call", l_stream_next},
    {NULL, NULL},
};

static const luaL_Reg db_funcs[] = {
    {"connect", l_db_connect},
    {"redact", l_db_redact},
    {NULL, NULL},
};

int luaopen_migrun_core_db(lua_State *L)
{
    luaL_newmetatable(L, MR_ERROR_MT);               /* __tostring comes from migrun.errors */
    lua_pop(L, 1);
    luaL_newmetatable(L, MR_STREAM_MT);
    luaL_setfuncs(L, stream_meta, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, MR_DB_MT);                  // [mt]
    luaL_setfuncs(L, db_meta, 0);
    luaL_newlib(L, db_methods);                      // [mt, methods]
    lua_pushvalue(L, -1);                            // [mt, methods, methods]
    lua_setfield(L, -3, "__index");                  // [mt, methods]
    luaL_newlib(L, db_funcs);                        // [mt, methods, M]
    lua_insert(L, -2);                               // [mt, M, methods]
    lua_setfield(L, -2, "methods");                  /* Lua adds tx, script, set here */
    lua_remove(L, -2);                               // [M]
    luaL_getmetatable(L, MR_ERROR_MT);               // [M, errmt]
    lua_setfield(L, -2, "error_mt");                 /* migrun.errors fills in __tostring */
    return 1;
}
