-- POST single-use bodies (authorization codes, refresh tokens) from BENCH_DATA, one line each.
-- Thread n takes lines n, n+T, n+2T, ... so no body is sent twice; an exhausted list repeats its last
-- body, which then fails (invalid_grant) and shows up as errors rather than as fake speed.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local bodies = {}
local next_body = 0

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("BENCH_DATA")) do
    if i % nthreads == tid then
      bodies[#bodies + 1] = line
    end
    i = i + 1
  end
end

function request()
  next_body = next_body + 1
  local body = bodies[next_body] or bodies[#bodies]
  return wrk.format("POST", os.getenv("BENCH_PATH"), {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
