// Package journal is a mount's crash journal: a small append-only file
// naming what the mount has started in the bucket and not yet finished —
// each multipart upload (key, upload ID, time) and each temporary object
// under the staging directory — so that the next mount of the same bucket
// and prefix can abort and delete what a crashed instance (kill -9, OOM,
// power loss) left billed, before it serves anything (Replay).
//
// Guarantees:
//
//   - BeginUpload and BeginObject return only when their record is on
//     disk (written and fdatasync'd): the write-back layer calls
//     BeginUpload after InitiateMultipartUpload and before the first part
//     is sent, and BeginObject before a temporary object can come to
//     exist. One fdatasync per upload, none per part. A crash between
//     Initiate and the record leaks at most that one upload, still empty.
//   - End records (EndUpload, EndObject) are not synced: losing one only
//     makes the next mount abort an upload that no longer exists or delete
//     a temporary object already gone, both of which succeed (upload IDs
//     and staging keys are never reused).
//   - One journal per mount identity (endpoint + bucket + prefix) and slot,
//     in a state directory. A slot is held with flock(2) on its lock file
//     for the life of the mount, so two live mounts never share a journal:
//     a second mount of the same identity takes the next free slot. Open
//     also takes over the journals of every slot no live process holds
//     (their owners died), so each leftover is replayed by the next mount
//     whatever slot it gets.
//   - The journal is compacted when nothing is pending (truncated), and
//     rewritten atomically (temporary file, fsync, rename) when it grows
//     past CompactBytes while something is. A clean Close with nothing
//     pending removes the slot's files.
//
// The format is one JSON object per line ({"op":"upload","key":...,
// "upload_id":...,"time":...}, "upload-end", "object", "object-end"), so
// it can be read with any tool; a torn last line (a crash while writing
// it) is ignored.
//
// Tests use a temporary directory and obsclient/obsfake for Replay.
package journal
