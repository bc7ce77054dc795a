// Package sts serves the part of AWS STS that SDKs and the CLI call to learn
// who they are: GetCallerIdentity, over the AWS Query protocol.
package sts

import (
	"encoding/xml"
	"log/slog"
	"net/http"

	"github.com/wharfml/wharf/internal/awsapi"
)

const namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// maxForm bounds the query body; GetCallerIdentity's is a few dozen bytes.
const maxForm = 64 << 10

// Handler answers STS Query-protocol requests.
type Handler struct {
	Logger *slog.Logger
}

type callerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserId  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// OperationName returns the Action of a request, for metrics.
func OperationName(r *http.Request) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return "Unknown"
}

// ServeHTTP handles one STS request; the caller is already authenticated.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsapi.NewRequestID()
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		WriteError(w, reqID, http.StatusBadRequest, "MalformedInput", "The request body could not be parsed as a form.")
		return
	}
	id, ok := awsapi.IdentityFrom(r.Context())
	if !ok {
		WriteError(w, reqID, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	switch action := r.Form.Get("Action"); action {
	case "GetCallerIdentity":
		var out callerIdentityResponse
		out.Xmlns = namespace
		out.Result.Arn = id.ARN()
		out.Result.UserId = id.AccessKeyID
		if id.Root {
			out.Result.UserId = id.AccountID
		}
		out.Result.Account = id.AccountID
		out.RequestID = reqID
		writeXML(w, reqID, http.StatusOK, out)
	case "":
		WriteError(w, reqID, http.StatusBadRequest, "MissingAction", "Missing Action")
	default:
		WriteError(w, reqID, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version "+r.Form.Get("Version"))
	}
}

// WriteError writes an error in the Query protocol's XML shape.
func WriteError(w http.ResponseWriter, reqID string, status int, code, message string) {
	var e errorResponse
	e.Xmlns = namespace
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message, e.RequestID = code, message, reqID
	writeXML(w, reqID, status, e)
}

func writeXML(w http.ResponseWriter, reqID string, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(body)
}
