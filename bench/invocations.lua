-- wrk script for the byoc benchmark.
-- Usage: wrk ... -s invocations.lua http://127.0.0.1:PORT/invocations -- BODY_FILE [CONTENT_TYPE [ACCEPT]]
-- Sends POST requests with the body read from BODY_FILE, counts every non-2xx status
-- (wrk itself only counts >= 400), and prints one machine-readable line in done().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   local f = assert(io.open(path, "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = args[2] or "text/csv"
   if args[3] and args[3] ~= "" then
      wrk.headers["Accept"] = args[3]
   end
   non2xx = 0
   first_bad = ""
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local non2xx_total = 0
   local bad = ""
   for _, t in ipairs(threads) do
      non2xx_total = non2xx_total + (t:get("non2xx") or 0)
      local fb = t:get("first_bad") or ""
      if bad == "" then bad = fb end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d bytes=%d non2xx=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
      "lat_mean_us=%.1f lat_max_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d\n",
      summary.requests, summary.duration, summary.bytes, non2xx_total,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
   if bad ~= "" then
      io.write("BENCH_FIRST_BAD " .. string.gsub(bad, "\n", "\\n") .. "\n")
   end
end
