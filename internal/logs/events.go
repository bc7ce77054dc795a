package logs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// Page limits of GetLogEvents and FilterLogEvents, as CloudWatch's.
const (
	maxEventsPerPage = 10000
	maxPageBytes     = 1 << 20 // sum of message bytes + 26 per event
)

// FilterLogEvents scan budget: a page stops early (with a nextToken) after
// examining this much, so a rare pattern over a big group cannot pin a
// request. Clients keep paging while a nextToken comes back.
const (
	maxScanRows  = 100_000
	maxScanBytes = 64 << 20
	maxScanTime  = 3 * time.Second
)

// GetLogEvents pages through one stream in (timestamp, sequence) order.
//
// Without nextToken the page is the first `limit` events of the time range
// with startFromHead, else the last `limit` events. nextForwardToken ("f/…")
// resumes after the page's last event, nextBackwardToken ("b/…") before its
// first. A page without events returns the tokens passed in (or, on a first
// call, tokens at the start of the range), so clients following a stream see
// nextForwardToken stop changing until new events arrive. A token names its
// direction: startFromHead is ignored when one is given.
func (a *api) getLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput) (*cloudwatchlogs.GetLogEventsOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	g, err := a.lookupGroup(ctx, account, in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	st, err := a.lookupStream(ctx, g, aws.ToString(in.LogStreamName))
	if err != nil {
		return nil, err
	}
	limit := maxEventsPerPage
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	start, end := int64(0), int64(math.MaxInt64) // [start, end)
	if in.StartTime != nil {
		start = *in.StartTime
	}
	if in.EndTime != nil {
		end = *in.EndTime
	}
	scope := strconv.FormatInt(st.id, 10)
	var pos cursor
	forward, fromToken := aws.ToBool(in.StartFromHead), false
	switch {
	case in.NextToken != nil:
		var tok eventToken
		kind, err := a.s.decodeToken(*in.NextToken, &tok, "f", "b")
		if err != nil || tok.Scope != scope {
			return nil, errBadToken
		}
		pos, forward, fromToken = tok.cursor, kind == "f", true
	case forward:
		pos = cursor{TS: start}
	default:
		pos = cursor{TS: end}
	}

	q := `SELECT id, ts, ingested, message FROM events WHERE stream_id = ? AND ts >= ? AND ts < ?`
	if forward {
		q += ` AND (ts, id) >= (?, ?) ORDER BY ts, id LIMIT ?`
	} else {
		q += ` AND (ts, id) < (?, ?) ORDER BY ts DESC, id DESC LIMIT ?`
	}
	rows, err := a.s.db.QueryContext(ctx, q, st.id, start, end, pos.TS, pos.ID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := []types.OutputLogEvent{}
	var first, last cursor // of the page, in stream order
	size := 0
	for rows.Next() {
		var id, ts, ingested int64
		var msg string
		if err := rows.Scan(&id, &ts, &ingested, &msg); err != nil {
			return nil, err
		}
		if size += len(msg) + eventOverhead; size > maxPageBytes && len(events) > 0 {
			break
		}
		events = append(events, types.OutputLogEvent{Timestamp: aws.Int64(ts), IngestionTime: aws.Int64(ingested), Message: aws.String(msg)})
		c := cursor{TS: ts, ID: id}
		if len(events) == 1 {
			first, last = c, c
		} else if forward {
			last = c
		} else {
			first = c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !forward {
		slices.Reverse(events)
	}
	var fwd, back cursor
	switch {
	case len(events) > 0:
		fwd, back = cursor{TS: last.TS, ID: last.ID + 1}, first
	case fromToken:
		fwd, back = pos, pos
	default:
		fwd, back = cursor{TS: start}, cursor{TS: start}
	}
	return &cloudwatchlogs.GetLogEventsOutput{
		Events:            events,
		NextForwardToken:  aws.String(a.s.encodeToken("f", eventToken{Scope: scope, cursor: fwd})),
		NextBackwardToken: aws.String(a.s.encodeToken("b", eventToken{Scope: scope, cursor: back})),
	}, nil
}

// maxSearchedStreams caps searchedLogStreams (a deprecated member CloudWatch
// now leaves empty).
const maxSearchedStreams = 100

// FilterLogEvents returns the events of a group's streams (all, named, or by
// name prefix) within [startTime, endTime] matching filterPattern (see
// pattern), interleaved in (timestamp, sequence) order. nextToken is
// returned while more events may match. eventId is stable, so clients that
// re-query from the newest timestamp they saw (aws logs tail --follow) can
// skip events already printed.
func (a *api) filterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != nil {
		return nil, invalidParameter("You cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	g, err := a.lookupGroup(ctx, account, in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit := maxEventsPerPage
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	start, end := int64(0), int64(math.MaxInt64) // [start, end]
	if in.StartTime != nil {
		start = *in.StartTime
	}
	if in.EndTime != nil {
		end = *in.EndTime
	}
	pat := parsePattern(aws.ToString(in.FilterPattern))

	// The streams searched: sel is an SQL condition on a streams row;
	// narrow tells whether it selects fewer than all of the group's.
	sel, selArgs, narrow := `group_id = ?`, []any{g.id}, true
	switch {
	case len(in.LogStreamNames) > 0:
		sel += ` AND name IN (SELECT value FROM json_each(?))`
		selArgs = append(selArgs, jsonStrings(in.LogStreamNames))
	case aws.ToString(in.LogStreamNamePrefix) != "":
		p := *in.LogStreamNamePrefix
		sel += ` AND name >= ? AND name < ? AND substr(name, 1, length(?)) = ?`
		selArgs = append(selArgs, p, prefixEnd(p), p, p)
	default:
		narrow = false
	}
	names := slices.Clone(in.LogStreamNames)
	slices.Sort(names)
	scope := scopeHash("filter", g.id, names, in.LogStreamNamePrefix, start, end, aws.ToString(in.FilterPattern))

	pos := cursor{TS: start}
	if in.NextToken != nil {
		var tok eventToken
		if _, err := a.s.decodeToken(*in.NextToken, &tok, "e"); err != nil || tok.Scope != scope {
			return nil, errBadToken
		}
		pos = tok.cursor
	}

	out := &cloudwatchlogs.FilterLogEventsOutput{Events: []types.FilteredLogEvent{}, SearchedLogStreams: []types.SearchedLogStream{}}
	// Narrow the scan to the selected streams' time span.
	var lo, hi *int64
	if err := a.s.db.QueryRowContext(ctx, `SELECT MIN(first_event), MAX(last_event) FROM streams WHERE `+sel, selArgs...).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	if lo != nil && hi != nil {
		if *lo > pos.TS {
			pos = cursor{TS: *lo}
		}
		end = min(end, *hi)
		scanSel := sel
		if !narrow {
			scanSel = ""
		}
		next, err := a.scanEvents(ctx, g.id, scanSel, selArgs, pos, end, pat, limit, out)
		if err != nil {
			return nil, err
		}
		if next != nil {
			out.NextToken = aws.String(a.s.encodeToken("e", eventToken{Scope: scope, cursor: *next}))
		}
	}

	rows, err := a.s.db.QueryContext(ctx, `SELECT name FROM streams WHERE `+sel+` ORDER BY name LIMIT ?`, append(selArgs, maxSearchedStreams)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out.SearchedLogStreams = append(out.SearchedLogStreams, types.SearchedLogStream{
			LogStreamName: aws.String(name), SearchedCompletely: aws.Bool(out.NextToken == nil),
		})
	}
	return out, rows.Err()
}

// scanEvents appends to out the events of group groupID in streams matching
// sel (every stream if sel is ""), from pos up to end (inclusive), that match pat, within the page and
// scan limits. It returns where to resume, or nil when the scan is complete.
func (a *api) scanEvents(ctx context.Context, groupID int64, sel string, selArgs []any, pos cursor, end int64,
	pat pattern, limit int, out *cloudwatchlogs.FilterLogEventsOutput) (*cursor, error) {
	// The group index yields the interleaved order directly; the stream
	// condition is checked per row against a set SQLite builds once.
	q := `SELECT e.id, e.ts, e.ingested, e.message, s.name
		FROM events e INDEXED BY events_group_ts JOIN streams s ON s.id = e.stream_id
		WHERE e.group_id = ? AND (e.ts, e.id) >= (?, ?) AND e.ts <= ?`
	args := []any{groupID, pos.TS, pos.ID, end}
	if sel != "" {
		q += ` AND e.stream_id IN (SELECT id FROM streams WHERE ` + sel + `)`
		args = append(args, selArgs...)
	}
	q += ` ORDER BY e.ts, e.id`
	rows, err := a.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	deadline := time.Now().Add(maxScanTime)
	size, scanned, scannedBytes := 0, 0, 0
	for rows.Next() {
		var id, ts, ingested int64
		var msg, stream string
		if err := rows.Scan(&id, &ts, &ingested, &msg, &stream); err != nil {
			return nil, err
		}
		here := &cursor{TS: ts, ID: id}
		if scanned >= maxScanRows || scannedBytes >= maxScanBytes ||
			(scanned%1024 == 1023 && time.Now().After(deadline)) {
			return here, nil
		}
		scanned++
		scannedBytes += len(msg)
		if !pat.matchesAll() && !pat.match(msg) {
			continue
		}
		if len(out.Events) == limit || (size+len(msg)+eventOverhead > maxPageBytes && len(out.Events) > 0) {
			return here, nil
		}
		size += len(msg) + eventOverhead
		out.Events = append(out.Events, types.FilteredLogEvent{
			EventId:       aws.String(eventID(ts, id)),
			Timestamp:     aws.Int64(ts),
			IngestionTime: aws.Int64(ingested),
			LogStreamName: aws.String(stream),
			Message:       aws.String(msg),
		})
	}
	return nil, rows.Err()
}

// eventID renders an event's id: 40 digits, ordered like the events.
func eventID(ts, id int64) string {
	return fmt.Sprintf("%020d%020d", ts, id)
}
