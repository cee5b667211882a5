--- migrun help [TOPIC]: the reference at the terminal (migrun.docs: the same text as the man
-- pages and docs/reference/). Without a topic, the list of topics; an unknown one is a usage
-- error (exit 2) naming the closest.
local docs = require "migrun.docs"
local errors = require "migrun.errors"

local M = {}

function M.run(opts, ctx)
  local topic = opts.arg1
  if not topic then
    ctx.out:text(docs.index_text())
    ctx.out:data("help", { topics = require("migrun.json").array(docs.topics()) })
    return 0
  end
  local s = docs.text(topic)
  if not s then
    errors.raise("usage", "no help topic '" .. topic .. "'" .. docs.suggest(topic),
                 { hint = "migrun help lists the topics" })
  end
  ctx.out:text(s)
  ctx.out:data("help", { topic = topic, text = s })
  return 0
end

return M
