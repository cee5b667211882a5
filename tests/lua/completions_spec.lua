-- The shell completions (completions/) offer what the command line accepts, no more, no less:
-- completions/generate.lua writes them from migrun's table of verbs and options, and each shell
-- is asked for real against what the binary says it takes (`migrun --help`, `migrun help VERB`)
-- and accepts. bash: its completion function with the words bash gives it, and through readline
-- in a terminal; zsh: `zsh -n`, the specs of every verb, and completion in a terminal; fish:
-- `fish -n` and `complete -C`. Pending where zsh, fish or python3 (the terminal driver) is missing.
local H = require "helper"
local proc = require "migrun.proc"
local commands = require "migrun.commands"

local SRC = H.source .. "/completions"

local function sorted(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy)
  return copy
end

local function split(s)
  local list = {}
  for w in s:gmatch("%S+") do list[#list + 1] = w end
  return list
end

local function run(argv, opts)
  local r = proc.run(argv, opts or {})
  assert(r.ok, table.concat(argv, " ") .. ": " .. tostring(r.stderr))
  return r.stdout
end

-- what the binary says (asked once): the verbs `migrun --help` lists, the options `migrun help
-- VERB` lists
local said = {}
local function help_verbs()
  if not said.verbs then
    said.verbs = {}
    for name in run({ H.bin, "--help" }):gmatch("\n  migrun (%l[%l-]*)") do said.verbs[#said.verbs + 1] = name end
  end
  return said.verbs
end

local function help_options(verb)
  if not said[verb] then
    local list = {}
    local section = run({ H.bin, "help", verb }):match("\noptions:\n(.*)$")
    for line in section:gmatch("[^\n]+") do list[#list + 1] = line:match("^  (%-%-?%w[%w-]*)") end
    said[verb] = sorted(list)
  end
  return said[verb]
end

-- the help topics, which the completions ask the binary for (`migrun help --json`)
local function help_topics()
  if not said.topics then
    local first = run({ H.bin, "help", "--json" }):match("^[^\n]+")
    said.topics = sorted(require("cjson").decode(first).topics)
  end
  return said.topics
end

-- the completions run `migrun` as the command line names it: this one, first in PATH
local path
local function with_migrun()
  if not path then
    local dir = H.tmpdir()
    local bin = H.bin:find("^/") and H.bin or (require("lfs").currentdir() .. "/" .. H.bin)
    assert(proc.run({ "ln", "-s", bin, dir .. "/migrun" }).ok)
    path = dir .. ":" .. os.getenv("PATH")
  end
  return { PATH = path }
end

-- `migrun PLAYBOOK.lua` has no help of its own: its options are the table's SCRIPT entry
local function script_options()
  local list = {}
  for _, name in ipairs(commands.SCRIPT.options) do
    list[#list + 1] = (commands.OPTIONS[name].short and "-" or "--") .. name
  end
  return sorted(list)
end

-- a directory to complete names in: a playbook, an SQL file, another file, a directory
local function scratch()
  local dir = H.tmpdir()
  H.write(dir .. "/a.lua", "")
  H.write(dir .. "/b.sql", "")
  H.write(dir .. "/c.txt", "")
  assert(require("lfs").mkdir(dir .. "/sub"))
  return dir
end

-- bash: _migrun called for each line as bash would call it: COMP_LINE and COMP_POINT, and
-- COMP_WORDS split at white space and at the characters of COMP_WORDBREAKS (a run of them is
-- a word of its own: --db=URL arrives as --db, =, URL). One line of output per line.
local BASH_DRIVER = [==[
source "$1"
shift
for line in "$@"; do
    COMP_LINE=$line COMP_POINT=${#line}
    COMP_WORDS=() w="" inbreak=""
    for ((k = 0; k < ${#line}; k++)); do
        c=${line:k:1}
        if [[ $c == [[:space:]] ]]; then
            [[ -n $w ]] && COMP_WORDS+=("$w")
            w="" inbreak=""
        elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
            [[ -n $w && -z $inbreak ]] && { COMP_WORDS+=("$w"); w=""; }
            w+=$c inbreak=1
        else
            [[ -n $inbreak ]] && { COMP_WORDS+=("$w"); w=""; }
            w+=$c inbreak=""
        fi
    done
    COMP_WORDS+=("$w")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _migrun
    printf '%s\n' "${COMPREPLY[*]}"
done
]==]

local function bash(lines, cwd)
  local argv = { "bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", SRC .. "/migrun.bash" }
  for _, l in ipairs(lines) do argv[#argv + 1] = l end
  local out, res = run(argv, { cwd = cwd or scratch(), env = with_migrun() }), {}
  for l in out:gmatch("([^\n]*)\n") do res[#res + 1] = sorted(split(l)) end
  assert.equal(#lines, #res, out)
  return res
end

-- fish: `complete -C LINE` for each line; the candidates without their descriptions
local function fish(lines, cwd)
  local argv = { "fish", "--no-config", "-c", [[
source $argv[1]
for line in $argv[2..-1]
    set -l found (complete -C"$line" | string replace -r '\t.*' '')
    echo "$found"
end]], SRC .. "/migrun.fish" }
  for _, l in ipairs(lines) do argv[#argv + 1] = l end
  local out, res = run(argv, { cwd = cwd or scratch(), env = with_migrun() }), {}
  for l in out:gmatch("([^\n]*)\n") do res[#res + 1] = sorted(split(l)) end
  assert.equal(#lines, #res, out)
  return res
end

-- a shell in a terminal (tests/harness/pty_driver.py): for each line, type it and Tab, then
-- clear the line and print a marker; returns what the terminal showed between the markers
local function terminal(argv, setup, ready, lines, cwd)
  local python = proc.which("python3")
  if not python then pending("python3 is needed to drive a terminal") return nil end
  local home = H.tmpdir()
  local steps = { { send = setup .. "\n" } }
  for i, l in ipairs(lines) do
    steps[#steps + 1] = { expect = ready, timeout = 60 }            -- bounds for a busy machine
    steps[#steps + 1] = { send = l .. "\t\21echo @@" .. i .. "@@\n" }
    steps[#steps + 1] = { expect = "\n@@" .. i .. "@@", timeout = 60 }
  end
  steps[#steps + 1] = { expect = ready, timeout = 60 }
  steps[#steps + 1] = { send = "exit\n" }
  local env = { HOME = home, TERM = "xterm", INPUTRC = "/dev/null", PATH = with_migrun().PATH }
  local scenario = H.write(home .. "/scenario.json", require("cjson").encode({
    argv = argv, env = env, cwd = cwd or scratch(), cols = 200, steps = steps, wait = 10 }))
  local r = require("cjson").decode(run({ python, H.source .. "/tests/harness/pty_driver.py", scenario },
                                        { timeout = "300s" }))
  assert(r.ok, tostring(r.error) .. "\n" .. tostring(r.output))
  local shown, from = {}, 1
  for i = 1, #lines do
    local s, e = r.output:find("\n@@" .. i .. "@@", from, true)
    shown[i] = r.output:sub(from, s)
    from = e + 1
  end
  return shown
end

describe("the shell completions", function()
  it("are what completions/generate.lua writes from the table of verbs and options", function()
    local out = H.tmpdir()
    run({ H.bin, SRC .. "/generate.lua", out })
    for _, name in ipairs({ "migrun.bash", "_migrun", "migrun.fish" }) do
      assert(H.read(out .. "/" .. name) == H.read(SRC .. "/" .. name),
             "completions/" .. name .. " is out of date: run `build/bin/migrun completions/generate.lua`")
    end
  end)

  it("each option bash offers is accepted by the binary, verb by verb", function()
    -- every offered option at once, then --help: the parser checks them all and changes nothing
    local lines = { "migrun -" }
    for _, v in ipairs(help_verbs()) do lines[#lines + 1] = "migrun " .. v .. " --" end
    local offered = bash(lines)
    for i, line in ipairs(lines) do
      local argv = split(line)
      argv[1], argv[#argv] = H.bin, nil
      for _, o in ipairs(offered[i]) do
        argv[#argv + 1] = o
        local known = commands.OPTIONS[o:gsub("^%-%-?", "")]
        if known and known.kind ~= "flag" then                             -- its value
          argv[#argv + 1] = known.arg:find("=") and "k=v" or "x"
        end
      end
      argv[#argv + 1] = "--help"
      local r = proc.run(argv)
      assert(r.status == 0, table.concat(argv, " ") .. ": " .. r.stderr)
    end
  end)
end)

describe("bash completion", function()
  local verbs = help_verbs()

  it("offers every verb, and the playbooks and directories, as the first word", function()
    local got = bash({ "migrun ", "migrun ru", "migrun re" })
    local want = sorted(verbs)
    table.insert(want, 1, "a.lua")
    want[#want + 1] = "sub"
    assert.same(sorted(want), got[1])
    assert.same({ "run" }, got[2])
    assert.same({ "rehearse", "repl", "report", "restore" }, got[3])
  end)

  it("offers exactly the options of each verb, and of the form without a verb", function()
    local lines = {}
    for _, v in ipairs(verbs) do lines[#lines + 1] = "migrun " .. v .. " --" end
    local got = bash(lines)
    for i, v in ipairs(verbs) do
      local want = {}
      for _, o in ipairs(help_options(v)) do if o:find("^%-%-") then want[#want + 1] = o end end
      assert.same(want, got[i], "migrun " .. v)
    end
    -- before a verb, and after a playbook: the options of `migrun PLAYBOOK.lua`
    local short = bash({ "migrun -", "migrun a.lua -", "migrun --sandbox --load b.sql a.lua -" })
    for _, g in ipairs(short) do assert.same(script_options(), g) end
  end)

  it("completes option values: words, files by extension, nothing for free text", function()
    local got = bash({ "migrun lint --format ", "migrun lint --format=", "migrun lint --format=s",
                       "migrun run --load ", "migrun --report ", "migrun run --db ", "migrun run --to ",
                       "migrun run --set a=" })
    assert.same({ "github", "json", "sarif", "text" }, got[1])
    assert.same({ "github", "json", "sarif", "text" }, got[2])   -- readline replaces after the =
    assert.same({ "sarif" }, got[3])
    assert.same({ "b.sql", "sub" }, got[4])
    assert.same({ "sub" }, got[5])                                 -- FILE.md: no .md here
    assert.same({}, got[6])
    assert.same({}, got[7])
    assert.same({}, got[8])
  end)

  it("completes each verb's arguments, and only as many as it takes", function()
    local got = bash({ "migrun plan ", "migrun lint ", "migrun lint a.lua ", "migrun help ", "migrun help pl",
                       "migrun sandbox ", "migrun import ", "migrun plan a.lua ", "migrun backup ",
                       "migrun plan --to 'x' ", "migrun plan --set k=v a.lua " })
    assert.same({ "a.lua", "sub" }, got[1])
    assert.same({ "a.lua", "b.sql", "sub" }, got[2])
    assert.same({ "a.lua", "b.sql", "sub" }, got[3])               -- lint takes many files
    assert.same(help_topics(), got[4])
    local pl = {}
    for _, t in ipairs(help_topics()) do if t:find("^pl") then pl[#pl + 1] = t end end
    assert.same(pl, got[5])
    assert.same({ "start", "stop" }, got[6])
    assert.same({ "sub" }, got[7])
    assert.same({}, got[8])
    assert.same({}, got[9])
    assert.same({ "a.lua", "sub" }, got[10])                       -- an option's value is no argument
    assert.same({}, got[11])
  end)

  it("finds the verb after options whose values bash splits (a URL's : and =)", function()
    local got = bash({ "migrun --db postgres://u:pw@h:5432/db pl", "migrun --db=postgres://h/db?x=y pl",
                       "migrun --db=postgres://h/db plan --" })
    assert.same({ "plan" }, got[1])
    assert.same({ "plan" }, got[2])
    assert.same(help_options("plan"), got[3])
  end)

  it("completes through readline in a terminal", function()
    local shown = terminal({ "bash", "--norc", "--noprofile", "-i" },
      "source " .. SRC .. "/migrun.bash; PS1='RE''ADY> '", "READY> ",
      { "migrun lint --format=sa", "migrun --db postgres://u@h:5432/db rehe", "migrun lint --pg-v" })
    if not shown then return end
    assert.truthy(shown[1]:find("migrun lint --format=sarif ", 1, true), shown[1])
    assert.truthy(shown[2]:find("postgres://u@h:5432/db rehearse ", 1, true), shown[2])
    assert.truthy(shown[3]:find("migrun lint --pg-version ", 1, true), shown[3])
  end)
end)

describe("zsh completion", function()
  local zsh = proc.which("zsh")

  it("parses, and gives each verb exactly its options", function()
    if not zsh then pending("zsh is not installed (scripts/deps.sh installs it)") return end
    run({ zsh, "-n", SRC .. "/_migrun" })
    -- the file's body with _arguments and _describe stubbed: the specs of each verb
    local verbs = help_verbs()
    local argv = { zsh, "-f", "-c", [[
_arguments() { :; }; _describe() { :; }
source $1; shift
for v in "$@"; do
    _migrun_specs ${v:#-}
    a=(${(M)specs:#(\*|)-*}); a=(${a%%[=\[]*}); a=(${a#\*})
    print -r -- "$a"
done]],
      "zsh", SRC .. "/_migrun", "-" }
    for _, v in ipairs(verbs) do argv[#argv + 1] = v end
    local lines = {}
    for l in run(argv):gmatch("([^\n]*)\n") do lines[#lines + 1] = sorted(split(l)) end
    assert.same(script_options(), lines[1])
    for i, v in ipairs(verbs) do assert.same(help_options(v), lines[i + 1], "migrun " .. v) end
  end)

  it("completes verbs, options, values and files in a terminal", function()
    if not zsh then pending("zsh is not installed (scripts/deps.sh installs it)") return end
    local shown = terminal({ zsh, "-f", "-i" },
      -- the completion system with only the functions it needs (compinit reads every file of fpath)
      "fpath=(" .. SRC .. " ${(M)fpath:#*/Completion(|/Base|/Unix|/Zsh)} ${fpath:#*/Completion*}); " ..
      "autoload -Uz compinit; compinit -u -D; bindkey '^I' list-choices; " ..
      "LISTMAX=100000; PS1='RE''ADY> '", "READY> ",
      { "migrun ", "migrun lint --", "migrun lint --format=", "migrun lint ", "migrun a.lua --v",
        "migrun --db postgres://u@h:5/db pl", "migrun help " })
    if not shown then return end
    -- what a listing shows: each word that starts a word there (the prompt redrawn after a
    -- listing may follow its last word without a space)
    local function listed(text)
      return setmetatable({}, { __index = function(_, w)
        return text:find("%f[%S]" .. w:gsub("%p", "%%%0")) ~= nil
      end })
    end
    local verbs = help_verbs()
    local first = listed(shown[1])
    for _, v in ipairs(verbs) do assert.truthy(first[v], "verb " .. v .. " not offered:\n" .. shown[1]) end
    assert.truthy(first["a.lua"] and first["sub/"] and not first["b.sql"], shown[1])
    local lint = listed(shown[2])
    for _, o in ipairs(help_options("lint")) do assert.truthy(lint[o], o .. " not offered:\n" .. shown[2]) end
    assert.falsy(lint["--into"] or lint["--yes"], shown[2])
    local formats = listed(shown[3])
    assert.truthy(formats.github and formats.sarif and formats.json and formats.text, shown[3])
    local files = listed(shown[4])
    assert.truthy(files["a.lua"] and files["b.sql"] and not files["c.txt"], shown[4])
    local v = listed(shown[5])
    assert.truthy(v["--verbose"] and v["--version"], shown[5])
    assert.truthy(shown[6]:find("plan", 1, true), shown[6])
    local helped = listed(shown[7])
    for _, name in ipairs(help_topics()) do assert.truthy(helped[name], name .. " not offered:\n" .. shown[7]) end
  end)
end)

describe("fish completion", function()
  local has_fish = proc.which("fish")

  it("parses, and offers every verb and exactly the options of each", function()
    if not has_fish then pending("fish is not installed (scripts/deps.sh installs it)") return end
    run({ "fish", "--no-config", "-n", SRC .. "/migrun.fish" })
    local verbs = help_verbs()
    local lines = { "migrun ", "migrun --", "migrun a.lua --" }
    for _, v in ipairs(verbs) do lines[#lines + 1] = "migrun " .. v .. " --" end
    local got = fish(lines)
    local first = sorted(verbs)
    table.insert(first, 1, "a.lua")
    first[#first + 1] = "sub/"
    assert.same(sorted(first), got[1])
    local long = {}
    for _, o in ipairs(script_options()) do if o:find("^%-%-") then long[#long + 1] = o end end
    assert.same(long, got[2])
    assert.same(long, got[3])
    for i, v in ipairs(verbs) do
      local want = {}
      for _, o in ipairs(help_options(v)) do if o:find("^%-%-") then want[#want + 1] = o end end
      assert.same(want, got[i + 3], "migrun " .. v)
    end
  end)

  it("completes values and arguments", function()
    if not has_fish then pending("fish is not installed (scripts/deps.sh installs it)") return end
    local got = fish({ "migrun lint --format ", "migrun run --load ", "migrun lint ", "migrun help pl",
                       "migrun sandbox ", "migrun plan a.lua ", "migrun --db postgres://h/db pl", "migrun help " })
    assert.same({ "github", "json", "sarif", "text" }, got[1])
    assert.same({ "b.sql", "sub/" }, got[2])
    assert.same({ "a.lua", "b.sql", "sub/" }, got[3])
    local pl = {}
    for _, t in ipairs(help_topics()) do if t:find("^pl") then pl[#pl + 1] = t end end
    assert.same(pl, got[4])
    assert.same({ "start", "stop" }, got[5])
    assert.same({}, got[6])
    assert.same({ "plan" }, got[7])
    assert.same(help_topics(), got[8])
  end)
end)
