package logs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
)

// api serves the CloudWatch Logs operations for one region.
type api struct {
	s      *Store
	region string
}

// Register adds the CloudWatch Logs operations Wharf serves to r:
// DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents,
// CreateLogGroup, CreateLogStream and PutLogEvents. ARNs name region. r
// should have TargetPrefix "Logs_20140328" and Model shapes.MustLoad("logs");
// requests must carry an awsapi.Identity (the SigV4 layer, signing name
// "logs"): every call sees only the caller's account.
func (s *Store) Register(r *awsjson.Router, region string) {
	a := &api{s: s, region: region}
	awsjson.Handle(r, "CreateLogGroup", a.createLogGroup)
	awsjson.Handle(r, "CreateLogStream", a.createLogStream)
	awsjson.Handle(r, "DescribeLogGroups", a.describeLogGroups)
	awsjson.Handle(r, "DescribeLogStreams", a.describeLogStreams)
	awsjson.Handle(r, "GetLogEvents", a.getLogEvents)
	awsjson.Handle(r, "FilterLogEvents", a.filterLogEvents)
	awsjson.Handle(r, "PutLogEvents", a.putLogEvents)
}

const describeLimit = 50 // default and maximum of Describe* limit

var (
	errGroupNotFound = awsjson.Errorf("ResourceNotFoundException", http.StatusBadRequest, "The specified log group does not exist.")
	errStreamMissing = awsjson.Errorf("ResourceNotFoundException", http.StatusBadRequest, "The specified log stream does not exist.")
	errGroupExists   = awsjson.Errorf("ResourceAlreadyExistsException", http.StatusBadRequest, "The specified log group already exists")
	errStreamExists  = awsjson.Errorf("ResourceAlreadyExistsException", http.StatusBadRequest, "The specified log stream already exists")
)

func invalidParameter(format string, args ...any) error {
	return awsjson.Errorf("InvalidParameterException", http.StatusBadRequest, format, args...)
}

// caller returns the authenticated account; the server's auth layer always
// sets it, so its absence is a wiring fault.
func caller(ctx context.Context) (string, error) {
	id, ok := awsapi.IdentityFrom(ctx)
	if !ok || id.AccountID == "" {
		return "", awsjson.Errorf("MissingAuthenticationTokenException", http.StatusForbidden, "Missing Authentication Token")
	}
	return id.AccountID, nil
}

func (a *api) groupARN(account, name string) string {
	return "arn:aws:logs:" + a.region + ":" + account + ":log-group:" + name
}

func (a *api) streamARN(account, group, stream string) string {
	return a.groupARN(account, group) + ":log-stream:" + stream
}

// groupName resolves a log group given by name or identifier (name or ARN,
// with or without ":*"). ok is false for an ARN of another account or
// region, which reads as not found.
func (a *api) groupName(account string, name, identifier *string) (string, bool, error) {
	switch {
	case name != nil && identifier != nil:
		return "", false, invalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != nil:
		return *name, true, nil
	case identifier == nil:
		return "", false, invalidParameter("Either logGroupName or logGroupIdentifier must be specified.")
	}
	v := *identifier
	if !strings.HasPrefix(v, "arn:") {
		return v, true, nil
	}
	// arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]
	parts := strings.SplitN(v, ":", 7)
	if len(parts) != 7 || parts[2] != "logs" || parts[5] != "log-group" {
		return "", false, invalidParameter("The specified log group identifier is not a valid ARN: %s", v)
	}
	if parts[3] != a.region || parts[4] != account {
		return "", false, nil
	}
	return strings.TrimSuffix(parts[6], ":*"), true, nil
}

// lookupGroup resolves and loads the caller's group.
func (a *api) lookupGroup(ctx context.Context, account string, name, identifier *string) (groupRow, error) {
	n, ok, err := a.groupName(account, name, identifier)
	if err != nil {
		return groupRow{}, err
	}
	if !ok {
		return groupRow{}, errGroupNotFound
	}
	g, err := a.s.group(ctx, account, n)
	if errors.Is(err, sql.ErrNoRows) {
		return g, errGroupNotFound
	}
	return g, err
}

// lookupStream loads a stream of g.
func (a *api) lookupStream(ctx context.Context, g groupRow, name string) (streamRow, error) {
	st, err := a.s.stream(ctx, g.id, name)
	if errors.Is(err, sql.ErrNoRows) {
		return st, errStreamMissing
	}
	return st, err
}

// CreateLogGroup: tags, KMS key and class are accepted and ignored.
func (a *api) createLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput) (*cloudwatchlogs.CreateLogGroupOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	_, created, err := a.s.createGroup(ctx, account, aws.ToString(in.LogGroupName))
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, errGroupExists
	}
	return &cloudwatchlogs.CreateLogGroupOutput{}, nil
}

func (a *api) createLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	g, err := a.lookupGroup(ctx, account, in.LogGroupName, nil)
	if err != nil {
		return nil, err
	}
	_, created, err := a.s.createStream(ctx, g.id, aws.ToString(in.LogStreamName))
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, errStreamExists
	}
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

// DescribeLogGroups lists the caller's groups in name order, by prefix,
// case-sensitive substring (logGroupNamePattern) or identifiers.
func (a *api) describeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput) (*cloudwatchlogs.DescribeLogGroupsOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, invalidParameter("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
	}
	if len(in.LogGroupIdentifiers) > 0 && (in.LogGroupNamePrefix != nil || in.LogGroupNamePattern != nil) {
		return nil, invalidParameter("LogGroupIdentifiers cannot be combined with LogGroupNamePrefix or LogGroupNamePattern.")
	}
	limit := describeLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	q := `SELECT g.name, g.created, (SELECT COALESCE(SUM(stored_bytes), 0) FROM streams WHERE group_id = g.id)
		FROM groups g WHERE g.account = ?`
	args := []any{account}
	if p := aws.ToString(in.LogGroupNamePrefix); p != "" {
		q += ` AND g.name >= ? AND g.name < ? AND substr(g.name, 1, length(?)) = ?`
		args = append(args, p, prefixEnd(p), p, p)
	}
	if p := aws.ToString(in.LogGroupNamePattern); p != "" {
		q += ` AND instr(g.name, ?) > 0`
		args = append(args, p)
	}
	var names []string
	if len(in.LogGroupIdentifiers) > 0 {
		for _, id := range in.LogGroupIdentifiers {
			if n, ok, err := a.groupName(account, nil, &id); err != nil {
				return nil, err
			} else if ok {
				names = append(names, n)
			}
		}
		q += ` AND g.name IN (SELECT value FROM json_each(?))`
		args = append(args, jsonStrings(names))
	}
	scope := scopeHash("groups", account, in.LogGroupNamePrefix, in.LogGroupNamePattern, names)
	if in.NextToken != nil {
		var tok listToken
		if _, err := a.s.decodeToken(*in.NextToken, &tok, "g"); err != nil || tok.Scope != scope {
			return nil, errBadToken
		}
		q += ` AND g.name > ?`
		args = append(args, tok.Name)
	}
	q += ` ORDER BY g.name LIMIT ?`
	args = append(args, limit+1)
	rows, err := a.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &cloudwatchlogs.DescribeLogGroupsOutput{LogGroups: []types.LogGroup{}}
	for rows.Next() {
		var name string
		var created, stored int64
		if err := rows.Scan(&name, &created, &stored); err != nil {
			return nil, err
		}
		if len(out.LogGroups) == limit {
			last := aws.ToString(out.LogGroups[limit-1].LogGroupName)
			out.NextToken = aws.String(a.s.encodeToken("g", listToken{Scope: scope, Name: last}))
			break
		}
		lg := types.LogGroup{
			LogGroupName: aws.String(name),
			CreationTime: aws.Int64(created),
			Arn:          aws.String(a.groupARN(account, name) + ":*"),
		}
		if in.LogGroupNamePattern == nil { // with a pattern AWS returns only these three
			lg.LogGroupArn = aws.String(a.groupARN(account, name))
			lg.StoredBytes = aws.Int64(stored)
			lg.MetricFilterCount = aws.Int32(0)
			lg.LogGroupClass = types.LogGroupClassStandard
		}
		out.LogGroups = append(out.LogGroups, lg)
	}
	return out, rows.Err()
}

// DescribeLogStreams lists a group's streams by name (optionally by prefix)
// or by last event time, ascending or descending.
func (a *api) describeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput) (*cloudwatchlogs.DescribeLogStreamsOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	byTime := in.OrderBy == types.OrderByLastEventTime
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	g, err := a.lookupGroup(ctx, account, in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit := describeLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	desc := aws.ToBool(in.Descending)
	cmp, dir := ">", "ASC"
	if desc {
		cmp, dir = "<", "DESC"
	}
	q := `SELECT ` + streamCols + ` FROM streams WHERE group_id = ?`
	args := []any{g.id}
	if p := aws.ToString(in.LogStreamNamePrefix); p != "" {
		q += ` AND name >= ? AND name < ? AND substr(name, 1, length(?)) = ?`
		args = append(args, p, prefixEnd(p), p, p)
	}
	scope := scopeHash("streams", g.id, in.LogStreamNamePrefix, byTime, desc)
	if in.NextToken != nil {
		var tok listToken
		if _, err := a.s.decodeToken(*in.NextToken, &tok, "s"); err != nil || tok.Scope != scope {
			return nil, errBadToken
		}
		if byTime {
			q += ` AND (COALESCE(last_event, 0), name) ` + cmp + ` (?, ?)`
			args = append(args, tok.Value, tok.Name)
		} else {
			q += ` AND name ` + cmp + ` ?`
			args = append(args, tok.Name)
		}
	}
	if byTime {
		q += ` ORDER BY COALESCE(last_event, 0) ` + dir + `, name ` + dir
	} else {
		q += ` ORDER BY name ` + dir
	}
	q += ` LIMIT ?`
	args = append(args, limit+1)
	rows, err := a.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &cloudwatchlogs.DescribeLogStreamsOutput{LogStreams: []types.LogStream{}}
	var last streamRow
	for rows.Next() {
		st, err := scanStream(rows)
		if err != nil {
			return nil, err
		}
		if len(out.LogStreams) == limit {
			out.NextToken = aws.String(a.s.encodeToken("s", listToken{Scope: scope, Value: last.lastEvent.Int64, Name: last.name}))
			break
		}
		last = st
		out.LogStreams = append(out.LogStreams, a.logStream(account, g.name, st))
	}
	return out, rows.Err()
}

func (a *api) logStream(account, group string, st streamRow) types.LogStream {
	ls := types.LogStream{
		LogStreamName: aws.String(st.name),
		Arn:           aws.String(a.streamARN(account, group, st.name)),
		CreationTime:  aws.Int64(st.created),
		StoredBytes:   aws.Int64(st.storedBytes),
	}
	if st.firstEvent.Valid {
		ls.FirstEventTimestamp = aws.Int64(st.firstEvent.Int64)
	}
	if st.lastEvent.Valid {
		ls.LastEventTimestamp = aws.Int64(st.lastEvent.Int64)
	}
	if st.lastIngestion.Valid {
		ls.LastIngestionTime = aws.Int64(st.lastIngestion.Int64)
	}
	return ls
}

// PutLogEvents limits, as CloudWatch's.
const (
	maxPutBatchBytes = 1 << 20 // sum of message bytes + 26 per event
	eventOverhead    = 26
	maxPutSpanMS     = 24 * 3600 * 1000
	maxFutureMS      = 2 * 3600 * 1000
	maxPastMS        = 14 * 24 * 3600 * 1000
)

// PutLogEvents stores events (subject to the stream cap, like container
// output). The sequence token is ignored, as CloudWatch now does.
func (a *api) putLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) {
	account, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	g, err := a.lookupGroup(ctx, account, in.LogGroupName, nil)
	if err != nil {
		return nil, err
	}
	st, err := a.lookupStream(ctx, g, aws.ToString(in.LogStreamName))
	if err != nil {
		return nil, err
	}
	size := 0
	for i, e := range in.LogEvents {
		size += len(aws.ToString(e.Message)) + eventOverhead
		if i > 0 && aws.ToInt64(e.Timestamp) < aws.ToInt64(in.LogEvents[i-1].Timestamp) {
			return nil, invalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > maxPutBatchBytes {
		return nil, invalidParameter("Upload too large: %d bytes exceeds limit of %d", size, maxPutBatchBytes)
	}
	now := a.s.nowMS()
	out := &cloudwatchlogs.PutLogEventsOutput{}
	var info types.RejectedLogEventsInfo
	evs := make([]pendingEvent, 0, len(in.LogEvents))
	for i, e := range in.LogEvents {
		ts := aws.ToInt64(e.Timestamp)
		switch {
		case ts < now-maxPastMS:
			info.TooOldLogEventEndIndex = aws.Int32(int32(i + 1)) // exclusive
		case ts > now+maxFutureMS:
			if info.TooNewLogEventStartIndex == nil {
				info.TooNewLogEventStartIndex = aws.Int32(int32(i))
			}
		default:
			evs = append(evs, pendingEvent{ts: ts, msg: truncateMessage(aws.ToString(e.Message), a.s.opts.MaxEventBytes)})
		}
	}
	if n := len(evs); n > 0 && evs[n-1].ts-evs[0].ts > maxPutSpanMS {
		return nil, invalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	if info.TooOldLogEventEndIndex != nil || info.TooNewLogEventStartIndex != nil {
		out.RejectedLogEventsInfo = &info
	}
	if len(evs) > 0 {
		if _, err := a.s.appendEvents(ctx, st.id, evs); err != nil {
			if errors.Is(err, errStreamGone) {
				return nil, errStreamMissing
			}
			return nil, err
		}
	}
	return out, nil
}

// jsonStrings encodes ss as a JSON array for json_each.
func jsonStrings(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}
