package sqlite

import "time"

// The writer's WAL is written to the disk by a goroutine of its own, a
// little after each commit, not all at the checkpoint.
//
// With synchronous=NORMAL a commit writes its frames to the WAL without an
// fsync: they wait in the kernel's page cache until the next checkpoint
// fsyncs the WAL before copying it into the database (a crash of the
// process loses nothing either way; see the package comment). Under
// steady writes that fsync, once a second, found everything written since
// the last one still dirty: in the load benchmark's installs 60–100 MB,
// written out in 90–130 ms, and the requests answered meanwhile were the
// slowest of the run (b's p99 38–41 ms; 21–30 ms with no checkpoint at
// all).
//
// So the WAL file's syncer fdatasyncs it walSyncEvery after a write, off
// the writer's path (the writer, whom every write waits for, never waits
// for it), and again as long as writes come: PostgreSQL's WAL writer does
// the same for commits that do not wait for their flush
// (wal_writer_delay). The checkpoint's fsync then finds little left to
// write (its passes took 14–36 ms instead of 110–230; b's worst p99 fell
// by a tenth, BENCHMARKS.md), and a power loss loses about walSyncEvery
// of commits instead of everything since the last checkpoint. Nothing
// changes that SQLite sees. Asking the kernel only to start the writeback
// (sync_file_range(2), as PostgreSQL's *_flush_after settings do) bought
// about as much for the p99 and nothing for a power loss.

// walSyncEvery is how long after a write the WAL is fdatasynced.
const walSyncEvery = 50 * time.Millisecond

// walSyncer is a WAL file's syncer.
type walSyncer struct {
	wrote chan struct{} // holds one if there was a write since the last sync began
	stop  chan struct{}
	done  chan struct{}
}

// written tells the file's syncer that its WAL was written, starting the
// syncer at the first write. With synchronous=FULL every commit syncs the
// WAL itself, and there is no syncer.
func (w *walFile) written(file uintptr) {
	if !w.syncLater {
		return
	}
	if w.syncer == nil {
		w.syncer = newWALSyncer(fileDescriptor(file))
	}
	select {
	case w.syncer.wrote <- struct{}{}:
	default: // told already
	}
}

// newWALSyncer starts the syncer of the file with descriptor fd, an open
// file of SQLite's unix VFS (the only one Doorway opens databases with).
func newWALSyncer(fd int) *walSyncer {
	s := &walSyncer{wrote: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.wrote:
			case <-s.stop:
				return
			}
			select {
			case <-time.After(walSyncEvery):
			case <-s.stop:
				return // SQLite syncs what it must as it closes
			}
			// An error is not reported: the checkpoint's fsync, which
			// SQLite makes before it relies on the WAL being on the disk,
			// reports what is wrong with the file.
			fdatasync(fd)
		}
	}()
	return s
}

// close stops the syncer, before the file (and its descriptor) is closed.
func (s *walSyncer) close() {
	if s != nil {
		close(s.stop)
		<-s.done
	}
}
