-- wrk script: POST the AdmissionReview in $ROFS_BENCH_BODY to /mutate, check every answer.
local f = assert(io.open(os.getenv("ROFS_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local bad = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"patchType":"JSONPatch"', 1, true) then
    bad = bad + 1
  end
end
done = function(summary, latency, requests)
  io.write(string.format("wrk: non-200 or unpatched responses: %d\n", bad))
end
