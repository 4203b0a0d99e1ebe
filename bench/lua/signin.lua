-- A whole federated sign-in per iteration, as a browser walks it (one connection per thread):
--   1 GET  /o/authorize/            -> 302 /login/?next=...       (no session yet)
--   2 GET  /login/?next=...         -> 200, the login page with its CSRF token
--   3 POST /login/oidc/             -> 302 to the upstream, with state and nonce
--   4 GET  /complete/oidc/?code&state (the upstream's redirect back; Gatehouse calls its token and
--                                    userinfo endpoints, each answering after 100 ms) -> 302 /o/authorize/
--   5 GET  /o/authorize/            -> 302 to the client with ?code (trusted client: no consent page)
--   6 POST /o/token/                -> 200, access, refresh and ID tokens
-- Each thread signs in its own few people in turn, so one person never signs in twice at once.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
local function urldecode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
local function param(url, name)
  local value = url:match("[?&]" .. name .. "=([^&]*)")
  return value and urldecode(value)
end

local authorize_path, redirect_uri, verifier, basic_auth, people, nthreads
local step, cookies, csrf, location, upstream_state, upstream_nonce, code, started, person
flows, failures, durations = 0, 0, {}

local function restart()
  step, cookies, csrf, location = 1, {}, nil, nil
end

function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  people = tonumber(os.getenv("BENCH_PEOPLE"))
  redirect_uri = os.getenv("BENCH_REDIRECT_URI")
  verifier = os.getenv("BENCH_VERIFIER")
  basic_auth = os.getenv("BENCH_AUTH")
  authorize_path = "/o/authorize/?response_type=code&client_id=" .. os.getenv("BENCH_CLIENT_ID")
    .. "&redirect_uri=" .. urlencode(redirect_uri) .. "&scope=openid%20profile%20email"
    .. "&state=s" .. tid .. "&nonce=n" .. tid
    .. "&code_challenge=" .. os.getenv("BENCH_CHALLENGE") .. "&code_challenge_method=S256"
  person = tid
  restart()
end

local function cookie_header()
  local parts = {}
  for name, value in pairs(cookies) do
    parts[#parts + 1] = name .. "=" .. value
  end
  return table.concat(parts, "; ")
end

function request()
  local headers = {}
  local cookie = cookie_header()
  if cookie ~= "" then headers["Cookie"] = cookie end
  if step == 1 then
    started = now_us()
    return wrk.format("GET", authorize_path, headers)
  elseif step == 2 or step == 5 then
    return wrk.format("GET", location, headers)
  elseif step == 3 then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/login/oidc/", headers,
      "csrfmiddlewaretoken=" .. urlencode(csrf) .. "&next=" .. urlencode(authorize_path))
  elseif step == 4 then
    -- The stub upstream's code names the person and carries the nonce it must sign (bench/stub_upstream.py).
    local upstream_code = tostring(person % people) .. "." .. upstream_nonce
    return wrk.format("GET", "/complete/oidc/?state=" .. urlencode(upstream_state) .. "&code=" .. urlencode(upstream_code), headers)
  else
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["Authorization"] = basic_auth
    return wrk.format("POST", "/o/token/", headers,
      "grant_type=authorization_code&code=" .. urlencode(code) .. "&redirect_uri=" .. urlencode(redirect_uri)
      .. "&code_verifier=" .. verifier)
  end
end

local function fail()
  failures = failures + 1
  restart()
end

function response(status, headers, body)
  for name, value in pairs(headers) do
    if name:lower() == "set-cookie" then
      local cname, cvalue = value:match("^([^=]+)=([^;]*)")
      if cname then cookies[cname] = cvalue end
    end
  end
  local redirect = headers["Location"] or headers["location"]
  if step == 1 then
    if status ~= 302 or not redirect then return fail() end
    location, step = redirect, 2
  elseif step == 2 then
    csrf = body:match('name="csrfmiddlewaretoken" value="([^"]+)"')
    if status ~= 200 or not csrf then return fail() end
    step = 3
  elseif step == 3 then
    if status ~= 302 or not redirect then return fail() end
    upstream_state, upstream_nonce = param(redirect, "state"), param(redirect, "nonce")
    if not upstream_state or not upstream_nonce then return fail() end
    step = 4
  elseif step == 4 then
    if status ~= 302 or not redirect or not redirect:find("/o/authorize/", 1, true) then return fail() end
    location, step = redirect, 5
  elseif step == 5 then
    code = redirect and param(redirect, "code")
    if status ~= 302 or not code then return fail() end
    step = 6
  else
    if status ~= 200 or not body:find("id_token", 1, true) then return fail() end
    flows = flows + 1
    durations[#durations + 1] = now_us() - started
    person = person + nthreads
    restart()
  end
end

function done(summary, latency, requests)
  local all = {}
  local total_flows, total_failures = 0, 0
  for _, thread in ipairs(bench_threads) do
    total_flows = total_flows + thread:get("flows")
    total_failures = total_failures + thread:get("failures")
    for _, d in ipairs(thread:get("durations")) do
      all[#all + 1] = d
    end
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p / 100))]
  end
  report(summary, latency, {
    flows = total_flows, flow_failures = total_failures, flow_p50_us = pct(50), flow_p99_us = pct(99),
  })
end
