package send

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"filippo.io/age"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/streamstore"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// sources is the source side of a run (every target format, list and
// verify): the read-only snapshots of every subvolume, by subvolume, with
// their entries and stream UUIDs (streamUUID) by "<subvolume>/<name>" and
// their paths by stream UUID.
type sources struct {
	bySV    map[string][]replicate.Source
	entries map[string]snapshot.Entry
	uuids   map[string]btrfs.UUID
	byUUID  map[string]string // UUID → path below the top level
}

func listSources(s *job.Session) (sources, error) {
	subvols, err := s.FS.List()
	if err != nil {
		return sources{}, err
	}
	src := sources{bySV: map[string][]replicate.Source{}, entries: map[string]snapshot.Entry{},
		uuids: map[string]btrfs.UUID{}, byUUID: map[string]string{}}
	byID := make(map[uint64]btrfs.Subvolume, len(subvols))
	for _, sv := range subvols {
		byID[sv.ID] = sv
	}
	for _, e := range snapshot.List(subvols, s.Config.Snapshots.Dir, s.FS.Mountpoint()) {
		if e.Kind == snapshot.KindUnknown || !e.ReadOnly {
			continue
		}
		id := streamUUID(byID[e.ID])
		u := id.String()
		src.bySV[e.Subvolume] = append(src.bySV[e.Subvolume], replicate.Source{Name: e.Name, UUID: u})
		src.entries[e.Subvolume+"/"+e.Name] = e
		src.uuids[e.Subvolume+"/"+e.Name] = id
		src.byUUID[u] = e.Path
	}
	return src, nil
}

// openStream checks a stream target: a local directory (on any
// filesystem, but not on the source's), its recipients and the period of
// its full_every.
func openStream(s *job.Session, t config.Target) (streamstore.Store, []age.Recipient, time.Duration, []string, error) {
	root, ok := t.Local()
	if !ok {
		return streamstore.Store{}, nil, 0, nil, fmt.Errorf("target %s: stream targets over SSH are not supported by this version (only a local directory)", t.Name)
	}
	st := streamstore.Store{Root: root}
	if err := st.Check(); err != nil {
		return st, nil, 0, nil, err
	}
	if d, err := btrfs.OpenDir(root); err == nil {
		fsid, err := d.FSID()
		d.Close()
		if err == nil && fsid == s.FS.FSID() {
			return st, nil, 0, nil, fmt.Errorf("target directory %s is on the source filesystem %s: a copy on the same disk is no backup", root, fsid)
		}
	}
	rs, err := streamstore.ParseRecipients(t.Recipients)
	if err != nil {
		return st, nil, 0, nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	var warnings []string
	every, err := calendar.MaxInterval(t.FullEvery, s.Now)
	if err != nil {
		every = 0
		warnings = append(warnings, fmt.Sprintf("full_every %q: %v: chains restart only when they cannot continue", t.FullEvery, err))
	}
	return st, rs, every, warnings, nil
}

// runStream sends to a stream target: each snapshot the plan picks is
// written as a file through streamstore, the target's retention deletes
// whole chains only, and the record says what the target holds; meter
// (nil: off) shows each stream as it is written.
func runStream(ctx context.Context, s *job.Session, t config.Target, dryRun bool, timeout time.Duration, meter *progress.Meter) TargetReport {
	tr := TargetReport{Target: t.Name, URL: t.URL, Sent: []Sent{}, Deleted: []Deleted{}}
	log := s.Log.With("target", t.Name)
	fail := func(err error) TargetReport {
		tr.Error = err.Error()
		log.Error("send to "+t.Name+" failed: "+tr.Error, "error", err)
		if !dryRun {
			s.AuditEvent(audit.Event{Action: "send", Path: t.URL, Result: audit.ResultFailure, Error: tr.Error})
		}
		return tr
	}
	st, recipients, every, warnings, err := openStream(s, t)
	if err != nil {
		return fail(err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	tr.Warnings = append(tr.Warnings, warnings...)
	if !dryRun {
		lk, err := lock.Acquire(ctx, s.Env.LockDir(), lock.Target(t.Name), jobName, timeout, log)
		if err != nil {
			return fail(fmt.Errorf("target %s: %w", t.Name, err))
		}
		defer lk.Release()
		cleaned, err := st.Clean(t.Subvolumes)
		tr.Cleaned = cleaned
		for _, c := range cleaned {
			log.Info("removed what a killed run left: "+c, "path", path.Join(st.Root, c))
		}
		if err != nil {
			return fail(err)
		}
	}
	src, err := listSources(s)
	if err != nil {
		return fail(err)
	}
	prev, _ := targetstate.Read(s.Env.StateDir(), t.Name)
	rec := targetstate.Record{Target: t.Name, URL: t.URL, Subvolumes: map[string]targetstate.Subvolume{}, SentBytes: prev.SentBytes}
	compressed := compressedSend(s.Env.Sysfs, s.Env.RunDir())
	policy := replicate.Policy(t, time.Local)
	var errs []error
	for _, sv := range t.Subvolumes {
		if job.Stopped(ctx) != nil {
			errs = append(errs, job.Stopped(ctx))
			break
		}
		m, err := st.Read(sv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		trusted := trustedSums(prev.Subvolumes[sv])
		if bad := m.Tampered(trusted); len(bad) > 0 {
			for _, d := range bad {
				errs = append(errs, d)
			}
			if p, ok := prev.Subvolumes[sv]; ok {
				rec.Subvolumes[sv] = p
			}
			continue // nothing sent onto a chain that cannot be trusted
		}
		written := map[string]string{}
		plan := streamstore.Build(sv, src.bySV[sv], m, policy, every, s.Now)
		tr.Warnings = append(tr.Warnings, plan.Warnings...)
		for _, w := range plan.Warnings {
			log.Warn(w)
		}
		okAll := true
		for i, x := range plan.Sends {
			r := Sent{Subvolume: sv, Name: x.Name, Parent: x.Parent, Why: x.Why}
			if dryRun {
				r.OK = true
				tr.Sent = append(tr.Sent, r)
				continue
			}
			if job.Stopped(ctx) != nil {
				okAll = false
				break
			}
			meta := streamstore.Meta{Name: x.Name, UUID: x.UUID, Kind: x.Kind, Parent: x.Parent, ParentUUID: x.ParentUUID}
			t0 := time.Now()
			meter.Start(sendItem(t.Name, sv, x.Name, i, len(plan.Sends), estimate(m, x.Kind)))
			w, err := writeStream(ctx, s.FS, st, sv, src.entries[sv+"/"+x.Name].Path, src.byUUID[x.ParentUUID], meta, compressed, recipients, s.Env.Now(), meter)
			meter.Finish(err)
			r.Bytes, r.Seconds = w.Stream.Size, time.Since(t0).Seconds()
			rec.SentBytes += w.Stream.Size
			file := streamstore.FileName(x.Name, x.Kind, len(recipients) > 0)
			ev := audit.Event{Action: "send", Subvolume: sv, Path: path.Join(st.Root, sv, file), Duration: r.Seconds, Result: audit.ResultSuccess}
			if err != nil {
				okAll = false
				r.Error = err.Error()
				ev.Result, ev.Error = audit.ResultFailure, r.Error
				log.Error(fmt.Sprintf("send of %s/%s to %s failed: %v", sv, x.Name, t.Name, err), "subvolume", sv, "snapshot", x.Name)
				errs = append(errs, fmt.Errorf("send %s/%s: %w", sv, x.Name, err))
			} else {
				r.OK = true
				written[x.Name] = w.Stream.SHA256
				log.Info(fmt.Sprintf("sent %s/%s to %s: %s, %d bytes stored in %.1f s (%s)", sv, x.Name, t.Name, x.Why, w.Stream.Size, r.Seconds, progress.Rate(w.StreamBytes, r.Seconds)),
					"subvolume", sv, "snapshot", x.Name, "parent", x.Parent, "bytes", w.Stream.Size, "seconds", secs(r.Seconds), "file", file)
			}
			s.AuditEvent(ev)
			tr.Sent = append(tr.Sent, r)
			if err != nil {
				break // the later sends of this subvolume would need it as their parent
			}
		}
		if okAll {
			for _, name := range plan.Deletions() {
				d := Deleted{Subvolume: sv, Name: name, OK: true}
				if !dryRun {
					file := name
					if x, ok := m.Find(name); ok {
						file = x.File
					}
					err := st.Delete(sv, []string{name})
					ev := audit.Event{Action: "target-delete", Subvolume: sv, Path: path.Join(st.Root, sv, file), Result: audit.ResultSuccess}
					if err != nil {
						d.OK, d.Error = false, err.Error()
						ev.Result, ev.Error = audit.ResultFailure, d.Error
						errs = append(errs, err)
					} else {
						log.Info(fmt.Sprintf("deleted %s/%s on %s (its retention)", sv, file, t.Name), "subvolume", sv, "snapshot", name)
					}
					s.AuditEvent(ev)
				}
				tr.Deleted = append(tr.Deleted, d)
			}
		}
		if dryRun {
			continue
		}
		if m, err = st.Read(sv); err != nil {
			errs = append(errs, err)
			continue
		}
		rec.Subvolumes[sv] = streamRecord(m, src.bySV[sv], trusted, written, prev.Subvolumes[sv].LastSuccess, okAll, s.Env.Now())
	}
	if !dryRun {
		rec.Time = s.Env.Now()
		if err := targetstate.Write(s.Env.StateDir(), rec); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return tr
}

// streamRecord is the record of what a stream target holds of one
// subvolume: every stored snapshot with its source UUID and the checksum
// of its stream (as written by this run, else as recorded before, else,
// for a stream this server has no record of, the manifest's), and as the
// parent the newest stored one when the source holds it (the next
// incremental starts from it, so prune keeps it).
func streamRecord(m streamstore.Manifest, src []replicate.Source, trusted, written map[string]string, last time.Time, ok bool, now time.Time) targetstate.Subvolume {
	out := targetstate.Subvolume{Snapshots: []targetstate.Snapshot{}, LastSuccess: last, StreamSHA256: map[string]string{}}
	for _, x := range m.Streams {
		out.Snapshots = append(out.Snapshots, targetstate.Snapshot{Name: x.Name, ReceivedUUID: x.UUID})
		out.StreamSHA256[x.Name] = cmp.Or(written[x.Name], trusted[x.Name], x.SHA256)
	}
	if n, found := m.Newest(); found {
		for _, s := range src {
			if s.UUID == n.UUID {
				out.Parent, out.ParentUUID = s.Name, s.UUID
			}
		}
	}
	if ok {
		out.LastSuccess = now
	}
	return out
}

// writeStream sends the snapshot (incrementally from parent when it is not
// "") through a pipe into the store. The store sees the end of the stream
// only once the send ioctl succeeded: a failed send is a read error, so
// nothing of it reaches the manifest. meter (nil: off) counts the send
// stream.
func writeStream(ctx context.Context, fsys *btrfs.FS, st streamstore.Store, sv, snap, parent string, m streamstore.Meta, compressed bool, rs []age.Recipient, now time.Time, meter *progress.Meter) (streamstore.Written, error) {
	if m.Kind == streamstore.Incremental && parent == "" {
		return streamstore.Written{}, fmt.Errorf("the parent %s is not on the source", m.Parent)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return streamstore.Written{}, err
	}
	sent := make(chan error, 1)
	go func() {
		err := fsys.Send(snap, pw, btrfs.SendOptions{Parent: parent, Compressed: compressed})
		sent <- err
		pw.Close()
	}()
	stop := context.AfterFunc(ctx, func() { pr.Close() }) // a send still writing gets EPIPE
	defer stop()
	w, werr := st.Write(sv, m, &sendReader{r: meter.Reader(pr), sent: sent}, rs, now)
	pr.Close()
	if werr != nil {
		return w, werr
	}
	return w, nil
}

// estimate is the expected size of the next send stream of kind to a
// stream target holding m: for a full stream, the send stream of the
// newest full one stored (the same subvolume, sent again in full); 0 for
// an incremental, whose size says nothing about the next.
func estimate(m streamstore.Manifest, kind streamstore.Kind) int64 {
	if kind != streamstore.Full {
		return 0
	}
	var full streamstore.Manifest
	for _, x := range m.Streams {
		if x.Kind == streamstore.Full {
			full.Streams = append(full.Streams, x)
		}
	}
	newest, _ := full.Newest()
	return newest.StreamBytes
}

// sendReader reads the pipe of a send; at its end it returns the send's
// error, if any, instead of io.EOF.
type sendReader struct {
	r    io.Reader
	sent chan error
}

func (s *sendReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		if serr := <-s.sent; serr != nil {
			return n, serr
		}
		s.sent <- nil // a later Read sees EOF again
	}
	return n, err
}

// addStream adds the rows of a stream target to a listing: its manifest
// joined with the source by UUID, as for a btrfs target (the parent is
// the newest stored snapshot).
func (l *Listing) addStream(s *job.Session, t config.Target, bySV map[string][]replicate.Source) int {
	st, _, _, _, err := openStream(s, t)
	if err != nil {
		l.addError(t.Name, err.Error())
		return job.ExitFailure
	}
	code := job.ExitOK
	for _, sv := range t.Subvolumes {
		m, err := st.Read(sv)
		if err != nil {
			l.addError(t.Name, err.Error())
			code = job.ExitFailure
			continue
		}
		var held []replicate.Held
		for _, x := range m.Streams {
			held = append(held, replicate.Held{Name: x.Name, ReceivedUUID: x.UUID})
		}
		rs := rows(t.Name, sv, bySV[sv], held)
		newest, _ := m.Newest()
		for i := range rs {
			rs[i].Parent = rs[i].OnTarget && rs[i].Source && rs[i].Name == newest.Name
		}
		l.Rows = append(l.Rows, rs...)
	}
	return code
}

// trustedSums are the stream checksums a target's record holds, by
// snapshot name.
func trustedSums(sv targetstate.Subvolume) map[string]string {
	out := map[string]string{}
	for name, sum := range sv.StreamSHA256 {
		if sum != "" {
			out[name] = sum
		}
	}
	return out
}
