package shapes

import (
	"fmt"
	"strings"
)

// ValidationError is a request that breaks its shape's constraints; the
// protocol layer answers it with ValidationException (HTTP 400) and Message.
//
// Message has AWS's format, one line holding every violation:
//
//	N validation error(s) detected: Value '<v>' at '<path>' failed to satisfy constraint: Member must <rule>; Value ...
//
// with "1 validation error detected" / "2 validation errors detected", a
// missing value rendered as "Value null at", and rules
//
//	Member must not be null
//	Member must have length less than or equal to <n>
//	Member must have length greater than or equal to <n>
//	Member must have value less than or equal to <n>
//	Member must have value greater than or equal to <n>
//	Member must satisfy regular expression pattern: <model pattern>
//	Member must satisfy enum value set: [<a>, <b>]
//	Member must satisfy constraint: [<rule>, ...]      (items of a list of scalars)
//	Map keys must satisfy constraint: [<rule>, ...]    (keys of a map)
//	Map value must satisfy constraint: [<rule>, ...]   (values of a map of scalars)
type ValidationError struct {
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

// SerializationError is a body the service cannot deserialize: malformed
// JSON, a top-level value that is not an object, or a member whose JSON type
// does not fit its shape. The protocol layer answers it with
// SerializationException (HTTP 400) and Message, which names the member.
type SerializationError struct {
	Message string
}

func (e *SerializationError) Error() string { return e.Message }

// Violation is one failed constraint, for handlers that check more than the
// model and want AWS's message format.
type Violation struct {
	Path       string // lowerCamelCase member path, e.g. "stoppingCondition.maxRuntimeInSeconds"
	Value      string // rendered value; ignored when Null
	Null       bool   // the value is missing
	Constraint string // e.g. "Member must have value greater than or equal to 1"
}

// String renders the violation as in AWS messages.
func (v Violation) String() string {
	val := "null"
	if !v.Null {
		val = "'" + v.Value + "'"
	}
	return fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", val, v.Path, v.Constraint)
}

// NewValidationError joins violations into one AWS-style message. It returns
// nil when there are none.
func NewValidationError(vs ...Violation) *ValidationError {
	if len(vs) == 0 {
		return nil
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	plural := "s"
	if len(vs) == 1 {
		plural = ""
	}
	return &ValidationError{Message: fmt.Sprintf("%d validation error%s detected: %s", len(vs), plural, strings.Join(parts, "; "))}
}
