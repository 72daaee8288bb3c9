package writeback

// Journal records what the manager has started in the store and not yet
// finished, so that a later mount can clean up after a crash (package
// journal implements it; cmd/obsfs replays it at mount). The manager calls
// it at these points only:
//
//   - BeginUpload after InitiateMultipartUpload and before the first part
//     of the upload is sent. It must return only once the record is
//     durable; an error fails the upload (it is aborted at once, and the
//     file's operation reports the error).
//   - EndUpload after the upload was completed or aborted (never for an
//     abort that failed: the upload is still billed, so it stays
//     journaled).
//   - BeginObject before a staged part's temporary object can come to
//     exist (before its File is opened); an error fails the write.
//   - EndObject after that object was deleted.
//
// Calls come from many goroutines at once. End* of something not begun is
// ignored.
type Journal interface {
	BeginUpload(key, uploadID string) error
	EndUpload(uploadID string)
	BeginObject(key string) error
	EndObject(key string)
}

// nopJournal records nothing: the default.
type nopJournal struct{}

func (nopJournal) BeginUpload(string, string) error { return nil }
func (nopJournal) EndUpload(string)                 {}
func (nopJournal) BeginObject(string) error         { return nil }
func (nopJournal) EndObject(string)                 {}
