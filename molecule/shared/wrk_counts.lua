-- wrk script of the release tests (conftest.RealClients): one request shape per run, counted per status and
-- per X-App-Release value, in the order the releases first answered.
--   wrk ... -s wrk_counts.lua URL -- PROGRESS_FILE get
--   wrk ... -s wrk_counts.lua URL -- PROGRESS_FILE post BODY CSRF_TOKEN ORIGIN
-- Every 500 responses the count so far goes to PROGRESS_FILE (one thread: wrk -t1); at the end (wrk's
-- duration, or SIGINT) one line on stdout: WRK-RESULT {json}.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  releases = {}
  order = {}
  answered = 0
  progress = args[1]
  if args[2] == "post" then
    -- A form of the site sent like a browser's fetch(): CSRF cookie and header, the site's Origin.
    wrk.method = "POST"
    wrk.body = args[3]
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.headers["Cookie"] = "csrftoken=" .. args[4]
    wrk.headers["X-CSRFToken"] = args[4]
    wrk.headers["Origin"] = args[5]
    wrk.headers["Accept"] = "application/json"
  end
  wrk.headers["User-Agent"] = "molecule-release-wrk"
  prepared = wrk.format()
end

function request()
  return prepared
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local release = headers["X-App-Release"] or headers["x-app-release"] or ""
  if releases[release] == nil then
    releases[release] = 0
    order[#order + 1] = release
  end
  releases[release] = releases[release] + 1
  answered = answered + 1
  if answered % 500 == 0 then
    local file = io.open(progress, "w")
    if file then
      file:write(answered)
      file:close()
    end
  end
end

local function json_string(text)
  return '"' .. tostring(text):gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function json_object(map)
  local parts = {}
  for key, value in pairs(map) do
    parts[#parts + 1] = json_string(key) .. ":" .. tostring(value)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local all_statuses, all_releases, all_order = {}, {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      all_statuses[tostring(status)] = (all_statuses[tostring(status)] or 0) + n
    end
    local counted = thread:get("releases")
    for _, release in ipairs(thread:get("order")) do
      if all_releases[release] == nil then
        all_releases[release] = 0
        all_order[#all_order + 1] = json_string(release)
      end
      all_releases[release] = all_releases[release] + counted[release]
    end
  end
  local errors = summary.errors
  io.write("WRK-RESULT {",
    '"requests":', summary.requests, ",",
    '"seconds":', string.format("%.1f", summary.duration / 1e6), ",",
    '"errors":{"connect":', errors.connect, ',"read":', errors.read, ',"write":', errors.write,
    ',"timeout":', errors.timeout, ',"status":', errors.status, "},",
    '"statuses":', json_object(all_statuses), ",",
    '"releases":', json_object(all_releases), ",",
    '"release_order":[', table.concat(all_order, ","), "],",
    '"p99_ms":', string.format("%.1f", latency:percentile(99) / 1000),
    "}\n")
end
