package localws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/realtime"
)

// Management is the Management API: POST /@connections/{id} sends the body
// as a message, GET describes the connection, DELETE closes it (with the
// code and reason of the realtime.HeaderCloseCode and HeaderCloseReason
// headers when present, else 1000).
//
// As on API Gateway, every call must be signed (SigV4, service
// execute-api) with Config.Credentials: an unsigned or forged call is
// refused with 403 before anything else. An unknown id answers 410 with a
// GoneException, a payload over 128 KiB 413 with PayloadTooLargeException,
// a post to a client whose send queue is full 429 with
// LimitExceededException (and the client is closed with 1013); a post
// never waits on the client. With Config.ManagementRate set, a call over
// that rate answers 429 LimitExceededException too, and does nothing.
func (s *Server) Management() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			awsError(w, http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
			return
		}
		body, err := readLimited(r, MaxMessageBytes)
		if err != nil {
			awsError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", err.Error())
			return
		}
		if err := s.verify(r, body); err != nil {
			var d *denied
			if !errors.As(err, &d) {
				d = &denied{code: "InternalFailure", msg: "cannot verify the request"}
				s.log.ErrorContext(r.Context(), "management API: verify signature", "err", err)
				awsError(w, http.StatusInternalServerError, d.code, d.msg)
				return
			}
			s.log.WarnContext(r.Context(), "management API call refused", "reason", d.msg, "remote", r.RemoteAddr)
			awsError(w, http.StatusForbidden, d.code, d.msg)
			return
		}
		if !s.mgmtLimit.take() {
			awsError(w, http.StatusTooManyRequests, "LimitExceededException",
				fmt.Sprintf("Rate exceeded: the Management API takes %g calls a second", s.cfg.ManagementRate))
			return
		}
		raw := r.URL.EscapedPath()
		i := strings.Index(raw, "/@connections/")
		if i < 0 {
			awsError(w, http.StatusNotFound, "NotFoundException", "no such route")
			return
		}
		id, err := url.PathUnescape(raw[i+len("/@connections/"):])
		if err != nil || id == "" {
			awsError(w, http.StatusBadRequest, "BadRequestException", "bad connection id")
			return
		}
		e, ok := s.lookup(id)
		if !ok {
			awsError(w, http.StatusGone, "GoneException", "")
			return
		}
		switch r.Method {
		case http.MethodPost:
			switch err := e.sink.Send(r.Context(), body); {
			case errors.Is(err, ErrSendQueueFull):
				// What API Gateway answers when "the WebSocket client side
				// buffer is full"; the client is being closed, so the
				// next post finds it gone.
				s.Unregister(id)
				awsError(w, http.StatusTooManyRequests, "LimitExceededException", "the client's send queue is full: it does not read fast enough")
				return
			case err != nil:
				s.Unregister(id)
				awsError(w, http.StatusGone, "GoneException", "")
				return
			}
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			s.mu.Lock()
			info := map[string]any{
				"connectedAt":  e.connectedAt.UTC().Format(time.RFC3339Nano),
				"lastActiveAt": e.lastActive.UTC().Format(time.RFC3339Nano),
				"identity":     map[string]string{"sourceIp": e.sourceIP, "userAgent": e.userAgent},
			}
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(info)
		case http.MethodDelete:
			code, reason := int(websocket.StatusNormalClosure), ""
			if v := r.Header.Get(realtime.HeaderCloseCode); v != "" {
				c, err := strconv.Atoi(v)
				if err != nil || c < 1000 || c > 4999 {
					awsError(w, http.StatusBadRequest, "BadRequestException", "bad close code")
					return
				}
				code = c
			}
			if v := r.Header.Get(realtime.HeaderCloseReason); v != "" {
				if reason, err = url.QueryUnescape(v); err != nil {
					reason = v
				}
			}
			s.Unregister(id)
			e.sink.Close(code, reason)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			awsError(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
		}
	})
}

func readLimited(r *http.Request, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("payload over %d bytes (read %d)", limit, n)
	}
	return buf.Bytes(), nil
}

// awsError answers in the REST-JSON error shape the AWS SDK decodes.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	var m any
	if msg != "" {
		m = msg
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"message": m})
}
