package s3

import (
	"context"
	"time"
)

// cleanLoop aborts stale uploads at open and every CleanInterval, until
// Close.
func (s *Store) cleanLoop() {
	defer close(s.done)
	ticker := time.NewTicker(s.opts.CleanInterval)
	defer ticker.Stop()
	for {
		if n, err := s.cleanStaleUploads(s.ctx, time.Now()); err != nil && s.ctx.Err() == nil {
			s.opts.Logger.Warn("clean stale nar uploads", "err", err)
		} else if n > 0 {
			s.opts.Logger.Info("aborted stale nar uploads", "count", n)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// cleanStaleUploads aborts the multipart uploads under nar/ begun over
// StaleUploadAge before now: those of writers that crashed, or whose
// abort failed. It returns how many it aborted.
func (s *Store) cleanStaleUploads(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	uploads := s.client.ListIncompleteUploads(ctx, s.opts.Bucket, narPrefix, true)
	defer func() {
		cancel()
		for range uploads { // the lister's goroutine ends once drained
		}
	}()
	aborted := 0
	for upload := range uploads {
		if upload.Err != nil {
			return aborted, storageErr("list uploads", upload.Err)
		}
		if upload.UploadID == "" || now.Sub(upload.Initiated) < s.opts.StaleUploadAge {
			continue
		}
		reqCtx, reqCancel := context.WithTimeout(ctx, requestTimeout)
		err := s.core.AbortMultipartUpload(reqCtx, s.opts.Bucket, upload.Key, upload.UploadID)
		reqCancel()
		if err != nil && !notFound(err) {
			return aborted, storageErr("abort upload of "+upload.Key, err)
		}
		aborted++
	}
	return aborted, nil
}
