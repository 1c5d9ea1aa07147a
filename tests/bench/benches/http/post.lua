-- wrk script: POST one signed webhook delivery on every request.
-- BENCH_BODY and BENCH_SIGNATURE name the files holding the body and its hex signature;
-- bench.py writes them. The request is formatted once per thread by wrk's default init.

local function slurp(path)
  local file = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BENCH_BODY"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Webhook-Event"] = "pharmacy_order_created"
wrk.headers["X-Webhook-Signature"] = (slurp(os.getenv("BENCH_SIGNATURE")):gsub("%s+", ""))
