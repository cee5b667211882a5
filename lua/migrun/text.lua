--- migrun.text: small string helpers shared by the CLI and the playbook loader.
local M = {}

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end
M.distance = distance

--- text.suggest(word, candidates) -> the closest candidate when it is close enough, or nil
function M.suggest(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if not best_d or d < best_d then best, best_d = c, d end
  end
  if best and best_d <= math.max(2, #word // 3) then return best end
  return nil
end

--- text.did_you_mean(word, candidates) -> " (did you mean 'x'?)" or ""
function M.did_you_mean(word, candidates)
  local s = M.suggest(word, candidates)
  return s and string.format(" (did you mean '%s'?)", s) or ""
end

--- text.readfile(path) -> contents | nil, message
function M.readfile(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

return M
