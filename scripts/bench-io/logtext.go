package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"
)

var (
	logPaths    = []string{"items", "users", "orders", "search", "health", "metrics", "login", "cart"}
	logAgents   = []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/7.88.1", "Prometheus/2.42.0", "Go-http-client/1.1"}
	logUnits    = []string{"logrotate", "apt-daily", "man-db", "server-snapshots", "systemd-tmpfiles-clean", "phpsessionclean"}
	logTables   = []string{"accounts", "sessions", "orders", "events"}
	logStatuses = []int{200, 200, 200, 200, 200, 204, 301, 304, 404, 500}
)

// LogText returns n bytes of log lines, the same for the same n: web server
// access lines, structured application lines with trace ids, systemd and
// database lines, one timestamp after another (what /var/log holds on a
// service host; zstd compresses it several times).
func LogText(n int64) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	b.Grow(int(n) + 512)
	for int64(b.Len()) < n {
		t = t.Add(time.Duration(r.IntN(50000)) * time.Microsecond)
		ts := t.Format("2006-01-02T15:04:05.000000-07:00")
		host := fmt.Sprintf("web-%02d", r.IntN(4)+1)
		path := logPaths[r.IntN(len(logPaths))]
		switch k := r.IntN(10); {
		case k < 5:
			fmt.Fprintf(&b, "%s %s nginx[%d]: 10.%d.%d.%d - - \"GET /api/v1/%s/%d?page=%d HTTP/1.1\" %d %d \"-\" \"%s\" rt=%.3f\n",
				ts, host, 900+r.IntN(4), r.IntN(4), r.IntN(256), r.IntN(256), path, r.IntN(100000), r.IntN(20),
				logStatuses[r.IntN(len(logStatuses))], 200+r.IntN(20000), logAgents[r.IntN(len(logAgents))], r.Float64()/10)
		case k < 8:
			fmt.Fprintf(&b, "%s %s app[%d]: level=info msg=\"request handled\" path=/api/v1/%s id=%d user=%d duration_ms=%d trace=%016x\n",
				ts, host, 1200+r.IntN(8), path, r.IntN(100000), r.IntN(5000), r.IntN(300), r.Uint64())
		case k < 9:
			u := logUnits[r.IntN(len(logUnits))]
			fmt.Fprintf(&b, "%s %s systemd[1]: Started %s.service - %s.\n", ts, host, u, u)
		default:
			fmt.Fprintf(&b, "%s db-01 postgres[%d]: LOG:  duration: %.3f ms  statement: SELECT * FROM %s WHERE id = %d\n",
				ts, 3000+r.IntN(50), r.Float64()*20, logTables[r.IntN(len(logTables))], r.IntN(1000000))
		}
	}
	return b.Bytes()[:n]
}
