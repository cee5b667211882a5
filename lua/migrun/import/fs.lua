--- migrun.import.fs: the files of a migration folder (policy layer over lfs): listing,
-- reading, paths relative to the playbook, and writing what the import generates without
-- ever replacing a file that is there.
local errors = require "migrun.errors"
local lfs = require "lfs"
local text = require "migrun.text"

local M = {}

--- fs.join(a, b) -> a/b (b as it is when absolute)
function M.join(a, b)
  if b:sub(1, 1) == "/" or a == "" or a == "." then return b end
  return (a:gsub("/+$", "")) .. "/" .. b
end

--- fs.is_dir(p), fs.is_file(p)
function M.is_dir(p) return lfs.attributes(p, "mode") == "directory" end
function M.is_file(p) return lfs.attributes(p, "mode") == "file" end

--- fs.list(dir [, recursive]) -> sorted paths of the files under dir, relative to it
-- (hidden entries, such as the .migrun folder an import writes, are left out)
function M.list(dir, recursive)
  local out = {}
  local function walk(rel)
    local here = rel == "" and dir or M.join(dir, rel)
    for e in lfs.dir(here) do
      if e:sub(1, 1) ~= "." then
        local r = rel == "" and e or (rel .. "/" .. e)
        local mode = lfs.attributes(M.join(dir, r), "mode")
        if mode == "file" then
          out[#out + 1] = r
        elseif mode == "directory" and recursive then
          walk(r)
        end
      end
    end
  end
  walk("")
  table.sort(out)
  return out
end

--- fs.read(path) -> contents; raises kind="usage" when it cannot be read
function M.read(path)
  local s, err = text.readfile(path)
  if not s then errors.raise("usage", "cannot read " .. path .. ": " .. tostring(err)) end
  return s
end

--- fs.absolute(p) -> p from the root, with . and .. resolved
function M.absolute(p)
  if p:sub(1, 1) ~= "/" then p = M.join(lfs.currentdir(), p) end
  local parts = {}
  for part in p:gmatch("[^/]+") do
    if part == ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

--- fs.dirname(p) -> the folder of p ("." for a bare name)
function M.dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- fs.basename(p)
function M.basename(p)
  return p:match("([^/]*)/*$")
end

--- fs.relative(path, from_dir) -> path written relative to from_dir (both made absolute)
function M.relative(path, from_dir)
  local a, b = {}, {}
  for part in M.absolute(path):gmatch("[^/]+") do a[#a + 1] = part end
  for part in M.absolute(from_dir):gmatch("[^/]+") do b[#b + 1] = part end
  local i = 1
  while i <= #a and i <= #b and a[i] == b[i] do i = i + 1 end
  local out = {}
  for _ = i, #b do out[#out + 1] = ".." end
  for j = i, #a do out[#out + 1] = a[j] end
  return table.concat(out, "/")
end

local function mkdir_p(dir)
  if M.is_dir(dir) then return end
  local parent = M.dirname(dir)
  if parent ~= dir and parent ~= "." and parent ~= "/" then mkdir_p(parent) end
  local ok, err = lfs.mkdir(dir)
  if not ok and not M.is_dir(dir) then errors.raise("environment", "cannot create " .. dir .. ": " .. tostring(err)) end
end

--- fs.plan_writes(list) -> {new = {...}, same = {...}}: list = {{path, text}, ...}; raises
-- kind="usage" naming the first file that exists with other contents (nothing is replaced)
function M.plan_writes(list)
  local new, same = {}, {}
  for _, f in ipairs(list) do
    if lfs.attributes(f.path, "mode") then
      local cur = text.readfile(f.path)
      if cur ~= f.text then
        errors.raise("usage", f.path .. " already exists (migrun import never replaces a file)",
          { hint = f.hint or "move it away, or write the playbook elsewhere with --out FILE" })
      end
      same[#same + 1] = f
    else
      new[#new + 1] = f
    end
  end
  return { new = new, same = same }
end

--- fs.write_new(path, text): creates the file (and its folders), written whole to a
-- temporary name first; refuses (kind="usage") to replace one
function M.write_new(path, s)
  if lfs.attributes(path, "mode") then
    errors.raise("usage", path .. " already exists (migrun import never replaces a file)")
  end
  mkdir_p(M.dirname(path))
  local tmp = path .. ".migrun-tmp"
  local f, err = io.open(tmp, "wb")
  if not f then errors.raise("environment", "cannot write " .. path .. ": " .. tostring(err)) end
  f:write(s)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    errors.raise("environment", "cannot write " .. path .. ": " .. tostring(rerr))
  end
end

return M
