--- migrun.import.digest: the checksums the old tools keep in their history tables (policy
-- layer, pure Lua): Flyway's CRC-32 of a script's lines, Sqitch's SHA-1 of a deploy script.
-- Adoption compares them with the folder to say which applied scripts changed since.
local M = {}

local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  CRC[i] = c
end

--- digest.crc32(s [, crc]) -> the CRC-32 (zlib's) of s, continuing from crc
function M.crc32(s, crc)
  local c = (crc or 0) ~ 0xFFFFFFFF
  for i = 1, #s do c = CRC[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

--- digest.flyway(text) -> the checksum Flyway records for a script: CRC-32 over its lines
-- without their line breaks (\n, \r\n or \r) and without a leading byte-order mark, as a
-- signed 32-bit integer
function M.flyway(text)
  text = text:gsub("^\239\187\191", "")
  local crc = 0
  local i, n = 1, #text
  while i <= n do
    local e = text:find("[\r\n]", i)
    crc = M.crc32(text:sub(i, (e or n + 1) - 1), crc)
    if not e then break end
    if text:sub(e, e + 1) == "\r\n" then i = e + 2 else i = e + 1 end
  end
  if crc >= 0x80000000 then crc = crc - 0x100000000 end
  return crc
end

local function rol(x, k) return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF end

--- digest.sha1(s) -> hex SHA-1 of s (Sqitch's script_hash of a deploy file)
function M.sha1(s)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local len = #s
  s = s .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #s, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", s, chunk + i * 4) end
    for i = 16, 79 do w[i] = rol(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = (b & c) | ((~b) & d), 0x5A827999
      elseif i < 40 then
        f, k = b ~ c ~ d, 0x6ED9EBA1
      elseif i < 60 then
        f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
      else
        f, k = b ~ c ~ d, 0xCA62C1D6
      end
      local t = (rol(a, 5) + (f & 0xFFFFFFFF) + e + k + w[i]) & 0xFFFFFFFF
      a, b, c, d, e = t, a, rol(b, 30), c, d
    end
    h0, h1 = (h0 + a) & 0xFFFFFFFF, (h1 + b) & 0xFFFFFFFF
    h2, h3 = (h2 + c) & 0xFFFFFFFF, (h3 + d) & 0xFFFFFFFF
    h4 = (h4 + e) & 0xFFFFFFFF
  end
  return string.format("%08x%08x%08x%08x%08x", h0, h1, h2, h3, h4)
end

return M
