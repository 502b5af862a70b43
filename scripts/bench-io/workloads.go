package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var lookPath = exec.LookPath

// workload is one kind of I/O, run on a freshly made layout mounted at root.
type workload struct {
	name string
	// where names the layout's directory the workload writes to.
	where string
	run   func(ctx context.Context, b *bench, root string) ([]value, error)
}

var workloads = []workload{
	{"database", "/var/lib/services", runDatabase},
	{"tree", "/var/lib/containers", runTree},
	{"random", "/var/lib/containers", runRandom},
	{"logs", "/var/log", runLogs},
	{"sequential", "/var/backup", runSequential},
}

func workloadNames() []string {
	var n []string
	for _, w := range workloads {
		n = append(n, w.name)
	}
	return n
}

func workloadByName(n string) (workload, bool) {
	for _, w := range workloads {
		if w.name == n {
			return w, true
		}
	}
	return workload{}, false
}

func (b *bench) wants(name string) bool {
	for _, w := range b.opts.workloads {
		if w == name {
			return true
		}
	}
	return false
}

// prepareData makes what the workloads copy in, once, outside the measured
// filesystem: the PostgreSQL cluster, the tree's tarball, the log text.
func (b *bench) prepareData(ctx context.Context) error {
	if b.wants("database") {
		if err := b.pgTemplate(ctx); err != nil {
			return err
		}
	}
	if b.wants("tree") {
		if err := b.treeTarball(ctx); err != nil {
			return err
		}
	}
	if b.wants("logs") {
		b.logs = filepath.Join(b.work, "logs.txt")
		data := LogText(b.opts.LogBytes)
		if err := os.WriteFile(b.logs, data, 0o644); err != nil {
			return fmt.Errorf("write log text: %w", err)
		}
		b.data["logs"] = fmt.Sprintf("%s of generated log lines (fixed seed), appended in 4 KiB writes, one fsync at the end", mib(int64(len(data))))
	}
	if b.wants("random") {
		b.data["random"] = fmt.Sprintf("fio randwrite 4-16 KiB blocks, fsync after each, %d s, on a %s file preallocated (fallocate) and written first; half-compressible buffers",
			b.opts.RandomSeconds, mib(b.opts.RandomBytes))
	}
	if b.wants("sequential") {
		b.data["sequential"] = fmt.Sprintf("fio 1 MiB writes of a %s file then fsync (timed whole), then reads after dropping its cache; half-compressible buffers", mib(b.opts.SeqBytes))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// --- database ---

type pgTools struct {
	bin      string // /usr/lib/postgresql/<version>/bin
	template string // the initialised cluster, copied into each layout
	socket   string
	uid, gid int
}

// pgBin finds the newest installed PostgreSQL's programs.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pgbench")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL with pgbench in /usr/lib/postgresql/*/bin (scripts/install-deps.sh bench-io installs postgresql)")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// asPostgres runs a PostgreSQL program as the postgres user.
func (b *bench) asPostgres(ctx context.Context, prog string, args ...string) (string, error) {
	return command(ctx, "runuser", append([]string{"-u", "postgres", "--", filepath.Join(b.pg.bin, prog)}, args...)...)
}

func (b *bench) pgStart(ctx context.Context, dir, logFile string) error {
	_, err := b.asPostgres(ctx, "pg_ctl", "-D", dir, "-l", logFile, "-w", "-t", "120",
		"-o", "-k "+b.pg.socket+" -c listen_addresses=''", "start")
	return err
}

func (b *bench) pgStop(dir string) error {
	_, err := b.asPostgres(context.Background(), "pg_ctl", "-D", dir, "-w", "-t", "120", "-m", "fast", "stop")
	return err
}

// pgTemplate makes the cluster every database run starts from: initdb with
// the distribution's defaults (fsync, synchronous_commit and full page
// writes on) and pgbench -i at the configured scale.
func (b *bench) pgTemplate(ctx context.Context) error {
	bin, err := pgBin()
	if err != nil {
		return err
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("the postgres user (installed with postgresql): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	b.pg = pgTools{bin: bin, template: filepath.Join(b.work, "pgtemplate"), socket: filepath.Join(b.work, "pgsock"), uid: uid, gid: gid}
	for _, d := range []string{b.pg.template, b.pg.socket} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", d, err)
		}
	}
	b.logf("PostgreSQL %d: initdb and pgbench -i -s %d", pgVersion(bin), b.opts.PGScale)
	if _, err := b.asPostgres(ctx, "initdb", "-D", b.pg.template, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
		return err
	}
	logFile := filepath.Join(b.pg.socket, "template.log")
	if err := b.pgStart(ctx, b.pg.template, logFile); err != nil {
		return err
	}
	_, err = b.asPostgres(ctx, "pgbench", "-h", b.pg.socket, "-i", "-q", "-s", strconv.Itoa(b.opts.PGScale), "postgres")
	if sErr := b.pgStop(b.pg.template); err == nil {
		err = sErr
	}
	if err != nil {
		return err
	}
	size, _ := dirSize(b.pg.template)
	b.data["database"] = fmt.Sprintf("PostgreSQL %d, distribution defaults, pgbench scale %d (%s cluster copied in), TPC-B-like, %d clients, %d s",
		pgVersion(bin), b.opts.PGScale, mib(size), b.opts.PGClients, b.opts.PGSeconds)
	return nil
}

var (
	tpsRE     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	latencyRE = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// parsePgbench reads TPS and the average latency from pgbench's report.
func parsePgbench(out string) (tps, latency float64, err error) {
	m1, m2 := tpsRE.FindStringSubmatch(out), latencyRE.FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		return 0, 0, fmt.Errorf("pgbench: no tps or latency in its output:\n%s", out)
	}
	tps, _ = strconv.ParseFloat(m1[1], 64)
	latency, _ = strconv.ParseFloat(m2[1], 64)
	return tps, latency, nil
}

var (
	mTPS     = Metric{Workload: "database", Name: "TPS", Unit: "tx/s", HigherBetter: true}
	mLatency = Metric{Workload: "database", Name: "latency", Unit: "ms"}
	mDBDisk  = Metric{Workload: "database", Name: "cluster on disk", Unit: "MiB"}
)

func runDatabase(ctx context.Context, b *bench, root string) (vals []value, err error) {
	dir := filepath.Join(root, "var/lib/services/postgresql")
	if _, err := command(ctx, "cp", "-a", b.pg.template, dir); err != nil {
		return nil, err
	}
	if err := syncfs(ctx, dir); err != nil {
		return nil, err
	}
	// The size of the cluster as copied in: after the run it would depend
	// on how much WAL the run's throughput wrote.
	disk, err := diskUsage(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := b.pgStart(ctx, dir, filepath.Join(b.pg.socket, "run.log")); err != nil {
		return nil, err
	}
	running := true
	defer func() {
		if running {
			if sErr := b.pgStop(dir); sErr != nil && err == nil {
				err = sErr
			}
		}
	}()
	out, err := b.asPostgres(ctx, "pgbench", "-h", b.pg.socket, "-c", strconv.Itoa(b.opts.PGClients), "-j", "2",
		"-T", strconv.Itoa(b.opts.PGSeconds), "postgres")
	if err != nil {
		return nil, err
	}
	tps, lat, err := parsePgbench(out)
	if err != nil {
		return nil, err
	}
	running = false
	if err := b.pgStop(dir); err != nil {
		return nil, err
	}
	return []value{{mTPS, tps}, {mLatency, lat}, {mDBDisk, float64(disk) / (1 << 20)}}, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// --- tree ---

// treeRoots are where the container-like tree's files come from.
var treeRoots = []string{"/usr/share", "/usr/include", "/usr/lib/python3"}

// treeTarball packs regular files of at most 1 MiB from treeRoots, in
// lexical order, until TreeBytes: a root filesystem's mix of small text
// and data files.
func (b *bench) treeTarball(ctx context.Context) error {
	var list []string
	var total int64
	stop := fmt.Errorf("enough")
	for _, r := range treeRoots {
		err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: skip
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil || fi.Size() > 1<<20 {
				return nil
			}
			list = append(list, strings.TrimPrefix(p, "/"))
			total += fi.Size()
			if total >= b.opts.TreeBytes {
				return stop
			}
			return nil
		})
		if err == stop {
			break
		}
	}
	listFile := filepath.Join(b.work, "tree.list")
	if err := os.WriteFile(listFile, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write tree list: %w", err)
	}
	b.tree = filepath.Join(b.work, "tree.tar")
	if _, err := command(ctx, "tar", "-C", "/", "-cf", b.tree, "--files-from", listFile); err != nil {
		return err
	}
	b.data["tree"] = fmt.Sprintf("%d files (%s) of %s, at most 1 MiB each; tar -x then tar -x --overwrite, each followed by syncfs",
		len(list), mib(total), strings.Join(treeRoots, ", "))
	return nil
}

var (
	mUnpack   = Metric{Workload: "tree", Name: "unpack", Unit: "s"}
	mRewrite  = Metric{Workload: "tree", Name: "rewrite", Unit: "s"}
	mTreeDisk = Metric{Workload: "tree", Name: "on disk", Unit: "MiB"}
)

func runTree(ctx context.Context, b *bench, root string) ([]value, error) {
	dir := filepath.Join(root, "var/lib/containers/storage/rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	unpack, err := b.timed(func() error {
		if _, err := command(ctx, "tar", "-C", dir, "-xf", b.tree); err != nil {
			return err
		}
		return syncfs(ctx, dir)
	})
	if err != nil {
		return nil, err
	}
	rewrite, err := b.timed(func() error {
		if _, err := command(ctx, "tar", "-C", dir, "--overwrite", "-xf", b.tree); err != nil {
			return err
		}
		return syncfs(ctx, dir)
	})
	if err != nil {
		return nil, err
	}
	disk, err := diskUsage(ctx, dir)
	if err != nil {
		return nil, err
	}
	return []value{{mUnpack, unpack.Seconds()}, {mRewrite, rewrite.Seconds()}, {mTreeDisk, float64(disk) / (1 << 20)}}, nil
}

// --- random ---

var mRandom = Metric{Workload: "random", Name: "4-16 KiB overwrite+fsync", Unit: "IOPS", HigherBetter: true}

// fioBuffers makes fio's data half compressible, refilled for every write
// (the same bytes for every layout: fixed seeds).
var fioBuffers = []string{"--buffer_compress_percentage=50", "--refill_buffers", "--randseed=1"}

// fioResult is the part of fio's JSON output used here.
type fioResult struct {
	Jobs []struct {
		Read  fioDir `json:"read"`
		Write fioDir `json:"write"`
	} `json:"jobs"`
}

type fioDir struct {
	IOPS    float64 `json:"iops"`
	BWBytes float64 `json:"bw_bytes"`
}

func runFio(ctx context.Context, args ...string) (fioResult, error) {
	out, err := command(ctx, "fio", append(append([]string{"--output-format=json"}, fioBuffers...), args...)...)
	if err != nil {
		return fioResult{}, err
	}
	var r fioResult
	// fio may print notes before the JSON document.
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Jobs) == 0 {
		return fioResult{}, fmt.Errorf("fio %s: unreadable output: %v", strings.Join(args, " "), err)
	}
	return r, nil
}

func runRandom(ctx context.Context, b *bench, root string) ([]value, error) {
	file := filepath.Join(root, "var/lib/containers/random.dat")
	size := strconv.FormatInt(b.opts.RandomBytes, 10)
	// Preallocated, then written once: the file has its extents before the
	// overwrites start.
	if _, err := runFio(ctx, "--name=layout", "--filename="+file, "--size="+size, "--fallocate=native",
		"--rw=write", "--bs=1M", "--ioengine=psync", "--end_fsync=1"); err != nil {
		return nil, err
	}
	r, err := runFio(ctx, "--name=random", "--filename="+file, "--size="+size, "--rw=randwrite",
		"--bsrange=4k-16k", "--fsync=1", "--ioengine=psync", "--time_based",
		"--runtime="+strconv.Itoa(b.opts.RandomSeconds))
	if err != nil {
		return nil, err
	}
	return []value{{mRandom, r.Jobs[0].Write.IOPS}}, nil
}

// --- logs ---

var (
	mLogWrite = Metric{Workload: "logs", Name: "append", Unit: "MB/s", HigherBetter: true}
	mLogDisk  = Metric{Workload: "logs", Name: "on disk", Unit: "MiB"}
)

func runLogs(ctx context.Context, b *bench, root string) ([]value, error) {
	data, err := os.ReadFile(b.logs)
	if err != nil {
		return nil, fmt.Errorf("read log text: %w", err)
	}
	dir := filepath.Join(root, "var/log/bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "app.log")
	took, err := b.timed(func() error {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		for off := 0; off < len(data); off += 4096 {
			if _, err := f.Write(data[off:min(off+4096, len(data))]); err != nil {
				f.Close()
				return fmt.Errorf("append to log: %w", err)
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync log: %w", err)
		}
		return f.Close()
	})
	if err != nil {
		return nil, err
	}
	disk, err := diskUsage(ctx, path)
	if err != nil {
		return nil, err
	}
	return []value{{mLogWrite, float64(len(data)) / 1e6 / took.Seconds()}, {mLogDisk, float64(disk) / (1 << 20)}}, nil
}

// --- sequential ---

var (
	mSeqWrite = Metric{Workload: "sequential", Name: "write", Unit: "MB/s", HigherBetter: true}
	mSeqRead  = Metric{Workload: "sequential", Name: "read", Unit: "MB/s", HigherBetter: true}
	mSeqDisk  = Metric{Workload: "sequential", Name: "on disk", Unit: "MiB"}
)

func runSequential(ctx context.Context, b *bench, root string) ([]value, error) {
	file := filepath.Join(root, "var/backup/sequential.dat")
	size := strconv.FormatInt(b.opts.SeqBytes, 10)
	var took time.Duration
	took, err := b.timed(func() error {
		// No preallocation (fio's default): btrfs writes a preallocated
		// range in place, uncompressed, which a copied file never is.
		_, err := runFio(ctx, "--name=write", "--filename="+file, "--size="+size, "--rw=write", "--bs=1M",
			"--ioengine=psync", "--fallocate=none", "--end_fsync=1")
		return err
	})
	if err != nil {
		return nil, err
	}
	r, err := runFio(ctx, "--name=read", "--filename="+file, "--size="+size, "--rw=read", "--bs=1M",
		"--ioengine=psync", "--invalidate=1")
	if err != nil {
		return nil, err
	}
	disk, err := diskUsage(ctx, file)
	if err != nil {
		return nil, err
	}
	return []value{
		{mSeqWrite, float64(b.opts.SeqBytes) / 1e6 / took.Seconds()},
		{mSeqRead, r.Jobs[0].Read.BWBytes / 1e6},
		{mSeqDisk, float64(disk) / (1 << 20)},
	}, nil
}

// --- sizes ---

// diskUsage is the bytes the data under path takes on disk, after
// compression (compsize's TOTAL "Disk Usage").
func diskUsage(ctx context.Context, path string) (int64, error) {
	out, err := command(ctx, "compsize", "-b", path)
	if err != nil {
		return 0, err
	}
	return parseCompsize(out)
}

func parseCompsize(out string) (int64, error) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "TOTAL" {
			return strconv.ParseInt(f[2], 10, 64)
		}
	}
	return 0, fmt.Errorf("compsize: no TOTAL line in:\n%s", out)
}
