local H = require "helper"

describe("the harness cluster", function()
  it("accepts connections and answers a query", function()
    local c <close> = H.connect()
    assert.equal(1, c:query("SELECT 1 AS one")[1].one)
  end)
end)
