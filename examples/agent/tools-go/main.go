// Command tools-go serves the agent's lookup tools over Keel: weather.lookup and time.now.
//
// Both are offline and deterministic enough for a demo: the weather comes from a small table,
// and time.now reads the clock (or KEEL_EXAMPLE_NOW, an RFC 3339 time, for reproducible runs).
// Each call appends one JSON line to $KEEL_EXAMPLE_LOG (run.sh sets the default).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // time zones without the system's tzdata

	keel "github.com/keel-dev/keel/clients/go"
)

type cityInput struct {
	City string `json:"city" keel:"required,minLength=1" doc:"City name, e.g. Lisbon"`
}

type weather struct {
	City         string  `json:"city"`
	Conditions   string  `json:"conditions"`
	TemperatureC float64 `json:"temperatureC"`
	WindKph      float64 `json:"windKph"`
}

type localTime struct {
	City      string `json:"city"`
	Timezone  string `json:"timezone"`
	LocalTime string `json:"localTime"`
	ISO       string `json:"iso"`
}

var table = map[string]weather{
	"lisbon":   {"Lisbon", "sunny", 19, 14},
	"porto":    {"Porto", "light rain", 15, 22},
	"madrid":   {"Madrid", "clear", 23, 8},
	"london":   {"London", "overcast", 12, 18},
	"paris":    {"Paris", "showers", 14, 12},
	"new york": {"New York", "windy", 9, 31},
	"tokyo":    {"Tokyo", "humid", 26, 10},
}

var zones = map[string]string{
	"lisbon": "Europe/Lisbon", "porto": "Europe/Lisbon", "madrid": "Europe/Madrid", "london": "Europe/London",
	"paris": "Europe/Paris", "new york": "America/New_York", "tokyo": "Asia/Tokyo",
}

func lookupWeather(ctx context.Context, in cityInput) (weather, error) {
	key := strings.ToLower(strings.TrimSpace(in.City))
	w, ok := table[key]
	if !ok { // an unknown city still gets a stable answer
		h := fnv.New32a()
		h.Write([]byte(key))
		w = weather{in.City, []string{"cloudy", "clear", "drizzle"}[h.Sum32()%3], float64(5 + h.Sum32()%25), float64(h.Sum32() % 40)}
	}
	return w, logSideEffect(ctx, "weather.lookup", in, w)
}

func now(ctx context.Context, in cityInput) (localTime, error) {
	zone, ok := zones[strings.ToLower(strings.TrimSpace(in.City))]
	if !ok {
		return localTime{}, &keel.Failure{Type: "BadInput", Message: fmt.Sprintf("no time zone known for %q", in.City), NonRetryable: true}
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return localTime{}, err
	}
	t := time.Now()
	if fixed := os.Getenv("KEEL_EXAMPLE_NOW"); fixed != "" {
		if t, err = time.Parse(time.RFC3339, fixed); err != nil {
			return localTime{}, err
		}
	}
	t = t.In(loc)
	out := localTime{City: in.City, Timezone: zone, LocalTime: t.Format("Mon 2 Jan 2006 15:04"), ISO: t.Format(time.RFC3339)}
	return out, logSideEffect(ctx, "time.now", in, out)
}

// logSideEffect appends {tool, idempotencyKey, attempt, ...} to the side-effect log in one
// O_APPEND write, so lines from all the example's processes never interleave.
func logSideEffect(ctx context.Context, tool string, input, output any) error {
	info := keel.GetActivityInfo(ctx)
	line, err := json.Marshal(map[string]any{"tool": tool, "idempotencyKey": info.IdempotencyKey, "attempt": info.Attempt,
		"workflowId": info.WorkflowID, "pid": os.Getpid(), "atMs": time.Now().UnixMilli(), "input": input, "output": output})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(os.Getenv("KEEL_EXAMPLE_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

func main() {
	w := keel.NewWorker("tools-go", keel.WorkerOptions{MaxConcurrent: 8})
	keel.RegisterActivity(w, "weather.lookup", lookupWeather, keel.ActivityOptions{Description: "Current weather in a city."})
	keel.RegisterActivity(w, "time.now", now, keel.ActivityOptions{Description: "Local date and time in a city."})
	if err := w.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tools-go:", err)
		os.Exit(1)
	}
}
