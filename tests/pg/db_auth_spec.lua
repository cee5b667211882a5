-- migrun.db and secrets: a password given in a URL or conninfo string never shows up in an
-- error, in tostring(conn), in conn:info() or in db.redact(). The harness cluster trusts its
-- unix socket and asks for scram passwords over TCP (127.0.0.1).
local H = require "helper"
local db = require "migrun.db"
local errors = require "migrun.errors"

local SECRET = "Sw0rdf1sh-7f2a9c"
local WRONG = "Wr0ng-pw-d41d8c"

-- every string reachable from v (an error object's fields, a table), concatenated
local function all_text(v, seen)
  seen = seen or {}
  if type(v) ~= "table" then return tostring(v) end
  if seen[v] then return "" end
  seen[v] = true
  local parts = { tostring(v) }
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. all_text(x, seen) end
  return table.concat(parts, "\n")
end

local function refute_secret(text, secret)
  assert.falsy(text:find(secret, 1, true), "the password leaked: " .. text)
end

describe("passwords", function()
  local role, port, admin

  local function url(password, dbname)
    return string.format("postgresql://%s:%s@127.0.0.1:%s/%s", role, password, port,
                         dbname or "postgres")
  end

  setup(function()
    role = "mr_pw_" .. require("migrun.core.sys").getpid()
    port = H.pgenv().PGPORT
    admin = H.connect()
    admin:exec("DROP ROLE IF EXISTS " .. admin:quote_ident(role))
    admin:exec("CREATE ROLE " .. admin:quote_ident(role) .. " LOGIN PASSWORD " ..
               admin:quote_literal(SECRET))
  end)

  teardown(function()
    if admin then
      admin:exec("DROP ROLE IF EXISTS " .. admin:quote_ident(role))
      admin:close()
    end
  end)

  it("a wrong password fails with kind=connection naming the target, not the password", function()
    local ok, err = pcall(db.connect, url(WRONG))
    assert.is_false(ok)
    assert.is_true(errors.is(err, "connection"))
    assert.equal("127.0.0.1", err.host)
    assert.equal(port, err.port)
    assert.equal("postgres", err.dbname)
    assert.equal(role, err.user)
    refute_secret(all_text(err), WRONG)
    refute_secret(tostring(err), WRONG)
  end)

  it("the right password connects over TCP; tostring and info don't show it", function()
    local c <close> = db.connect(url(SECRET))
    assert.equal(role, c:query("SELECT current_user AS u")[1].u)
    assert.equal("127.0.0.1", c:info().host)
    refute_secret(tostring(c), SECRET)
    refute_secret(all_text(c:info()), SECRET)
    c:close()
    refute_secret(tostring(c), SECRET)
  end)

  it("keeps the password out of errors in every form it can be given", function()
    local forms = {
      string.format("postgresql://%s@127.0.0.1:%s/postgres?password=%s", role, port, WRONG),
      string.format("host=127.0.0.1 port=%s user=%s password=%s dbname=postgres", port, role,
                    WRONG),
      string.format("host=127.0.0.1 port=%s user=%s password='%s' dbname=postgres", port, role,
                    WRONG),
      string.format("postgresql://%s:%s@127.0.0.1:notaport/postgres", role, WRONG),
      string.format("postgresql://%s:%s@127.0.0.1:%s/postgres?sslmode=bogus", role, WRONG, port),
      string.format("postgresql://%s:%s@127.0.0.1:%s/postgres?%%zz", role, WRONG, port),
    }
    for _, conninfo in ipairs(forms) do
      local ok, err = pcall(db.connect, conninfo)
      assert.is_false(ok, conninfo)
      assert.is_true(errors.is(err, "connection"), conninfo)
      refute_secret(all_text(err), WRONG)
      refute_secret(db.redact(conninfo), WRONG)
    end
  end)

  it("blanks the password in the process's own argv (ps, /proc/PID/cmdline), after Lua has it",
     function()
    -- the script reads its own command line as ps would, and connects with --db: the Lua
    -- layer must have received the real password
    local code = "local f = io.open('/proc/self/cmdline') local s = f:read('a') f:close() " ..
                 "io.write(s:gsub('%z', ' '), '|', db:query('SELECT current_user AS u')[1].u)"
    local forms = {
      { "--db", url(SECRET) },
      { "--db=" .. url(SECRET) },
      { "--db", string.format("host=127.0.0.1 port=%s user=%s password='%s' dbname=postgres",
                              port, role, SECRET) },
    }
    for _, form in ipairs(forms) do
      local args = { form[1], form[2] }
      args[#args + 1] = "-e"
      args[#args + 1] = code
      local r = H.migrun(args)
      assert.equal(0, r.status, r.stderr)
      local cmdline, user = r.stdout:match("^(.*)|([^|]*)$")
      assert.equal(role, user)
      refute_secret(cmdline, SECRET)
      assert.truthy(cmdline:find(("x"):rep(#SECRET), 1, true), cmdline)
      assert.truthy(cmdline:find(role, 1, true), cmdline)   -- the rest is left as it was
    end
  end)

  it("a query error on a password connection doesn't show it either", function()
    local c <close> = db.connect(url(SECRET))
    local ok, err = pcall(c.query, c, "SELECT * FROM no_such_table")
    assert.is_false(ok)
    assert.equal("42P01", err.sqlstate)
    refute_secret(all_text(err), SECRET)
  end)
end)
