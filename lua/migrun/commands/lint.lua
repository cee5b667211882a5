--- migrun lint PLAYBOOK.lua | FILE.sql ...: flag dangerous DDL with PostgreSQL's own parser
-- (migrun.lint). Connected (--db, --sandbox), a finding's severity follows the table's size.
-- Exit 0 clean (warnings only), 1 an error-level finding, 2 input it cannot parse.
local errors = require "migrun.errors"

local M = {}

function M.run(opts, ctx)
  local lint = require "migrun.lint"
  local format = opts.format or "text"
  if not require("migrun.lint.format").FORMATS[format] then
    errors.raise("usage", "--format takes text, json, sarif or github, not " .. format)
  end
  local db
  if opts.db or opts.sandbox or #opts.load > 0 then db = ctx:connect() end
  local findings, parse_errors = lint.files(opts.files, { vars = opts.vars, db = db, pg_version = opts.pg_version })
  if ctx.out.json then
    for _, f in ipairs(findings) do
      local e = {}
      for k, v in pairs(f) do e[k] = v end
      ctx.out:data("finding", e)
    end
    for _, e in ipairs(parse_errors) do ctx.out:error(e) end
  else
    lint.write(io.stdout, findings, format, { color = ctx.out.color, parse_errors = parse_errors })
  end
  local n_err, n_warn = lint.counts(findings)
  ctx.status = string.format("%d error(s), %d warning(s)", n_err, n_warn)
  return lint.exit_code(findings, parse_errors)
end

return M
