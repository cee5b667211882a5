local ident = require "migrun.ident"
local errors = require "migrun.errors"

describe("ident", function()
  it("reads a bare name literally, keeping its case and spaces", function()
    local p = ident.parse("Users")
    assert.is_nil(p.schema)
    assert.equal("Users", p.name)
    assert.equal("order items", ident.parse("order items").name)
  end)

  it("splits schema.table", function()
    local p = ident.parse("Sales.Orders")
    assert.equal("Sales", p.schema)
    assert.equal("Orders", p.name)
  end)

  it("reads quoted parts holding dots, quotes and spaces", function()
    local p = ident.parse('"My.Schema"."Order Items"')
    assert.equal("My.Schema", p.schema)
    assert.equal("Order Items", p.name)
    p = ident.parse('public."we""ird"')
    assert.equal("public", p.schema)
    assert.equal('we"ird', p.name)
    p = ident.parse('"a.b"')
    assert.is_nil(p.schema)
    assert.equal("a.b", p.name)
  end)

  it("takes a list {schema, table} as raw names", function()
    local p = ident.parse({ "My.Schema", 'Order "Items"' })
    assert.equal("My.Schema", p.schema)
    assert.equal('Order "Items"', p.name)
    assert.equal("t", ident.parse({ "t" }).name)
    assert.equal("s", ident.parse({ schema = "s", name = "t" }).schema)
  end)

  it("displays a name so that parsing it gives the same name", function()
    for _, name in ipairs({ "users", "Users", "public.Users", '"My.Schema"."Order Items"',
                            '"we""ird"', "order items" }) do
      local p = ident.parse(name)
      local back = ident.parse(ident.display(p))
      assert.equal(p.schema, back.schema)
      assert.equal(p.name, back.name)
    end
    assert.equal("public.Users", ident.display({ "public", "Users" }))
    assert.equal('"My.Schema"."Order Items"', ident.display({ "My.Schema", "Order Items" }))
    assert.equal('"we""ird"', tostring(ident.parse({ 'we"ird' })))
  end)

  it("uses the display form as the key of a name", function()
    assert.equal(ident.key("public.t"), ident.key({ "public", "t" }))
    assert.are_not.equal(ident.key("t"), ident.key("public.t"))
  end)

  it("rejects malformed names with a playbook error", function()
    for _, bad in ipairs({ "", "a.", ".a", "a..b", "a.b.c", '"open', '"a"b', 'a"b', 42,
                           { "a", "b", "c" }, { "" } }) do
      local p, msg = ident.check(bad)
      assert.is_nil(p)
      assert.is_string(msg)
      local ok, err = pcall(ident.parse, bad)
      assert.is_false(ok)
      assert.is_true(errors.is(err, "playbook"))
    end
  end)

  it("answers the same for a name asked again (parsed once, shared), a bad one included", function()
    local a, b = ident.parse("s.Users"), ident.parse("s.Users")
    assert.equal("s", b.schema)
    assert.equal("Users", b.name)
    assert.equal(ident.display(a), ident.display("s.Users"))
    for _ = 1, 2 do
      local p, msg = ident.check("a..b")
      assert.is_nil(p)
      assert.truthy(msg:find("empty name part", 1, true))
    end
  end)

  it("splits qualified column references for callers", function()
    assert.same({ "s", "t", "c" }, ident.split('s."t".c'))
    assert.same({ "Order Items", "Item.Id" }, ident.split('"Order Items"."Item.Id"'))
  end)
end)
