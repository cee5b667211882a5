-- migrun.hash: sha256 of strings and files (OpenSSL, streamed in C), checked against the
-- published vectors and against the system's sha256sum.
local hash = require "migrun.hash"
local proc = require "migrun.proc"
local sys = require "migrun.core.sys"
local lfs = require "lfs"

local function sha256sum(path)
  local r = proc.run({ "sha256sum", path })
  assert(r.ok, r.stderr)
  return r.stdout:match("^(%x+)")
end

describe("hash", function()
  local dir
  setup(function() dir = assert(sys.mkdtemp("/tmp/migrun-hash-spec-")) end)
  teardown(function()
    for e in lfs.dir(dir) do
      if e ~= "." and e ~= ".." then os.remove(dir .. "/" .. e) end
    end
    lfs.rmdir(dir)
  end)

  it("hashes strings like the published vectors", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash.sha256(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                 hash.sha256("abc"))
  end)

  it("agrees with sha256sum on strings and files, binary and large ones included", function()
    local parts = {}
    for i = 0, 255 do parts[#parts + 1] = string.char(i) end
    local bytes = table.concat(parts)
    for _, content in ipairs({ "", "hello\n", bytes, string.rep(bytes .. "\0\r\n", 12000) }) do
      local path = dir .. "/f"
      local f = assert(io.open(path, "wb"))
      f:write(content)
      f:close()
      local want = sha256sum(path)
      assert.equal(want, hash.sha256(content))
      assert.equal(want, hash.sha256_file(path))
    end
  end)

  it("streams: updates in pieces equal one hash of the whole", function()
    local h = hash.new()
    assert.equal(h, h:update("a"):update("b"))
    h:update("c")
    assert.equal(hash.sha256("abc"), h:hex())
    assert.is_false(pcall(h.hex, h))                          -- finished
    assert.is_false(pcall(h.update, h, "more"))
  end)

  it("answers nil and a message for a file it can't read", function()
    local v, msg = hash.sha256_file(dir .. "/missing")
    assert.is_nil(v)
    assert.truthy(msg:find("missing", 1, true))
    v = hash.sha256_file(dir)                                 -- a directory
    assert.is_nil(v)
  end)

  it("hash.text ignores CRLF versus LF", function()
    assert.equal(hash.text("a\nb\n"), hash.text("a\r\nb\r\n"))
    assert.equal(hash.sha256("a\nb\n"), hash.text("a\r\nb\r\n"))
  end)
end)
