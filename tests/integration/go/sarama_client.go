// sarama_client: the sarama Go client (Debian's golang-github-shopify-sarama-dev)
// against the broker, driven by test_sarama.py. Each subcommand prints one
// JSON object on its last stdout line and exits non-zero on any error.
//
//	produce BOOTSTRAP TOPIC N CODEC [idempotent]
//	                                  sync producer, acks=all, keyed records
//	consume BOOTSTRAP TOPIC N         partition consumers from the oldest offset
//	group BOOTSTRAP TOPIC GROUP N     consumer group of two members; commits
//	admin BOOTSTRAP TOPIC             cluster admin calls on a new topic
//
// The Kafka version sarama assumes (and so the request versions it sends) is
// 2.1.0, or SARAMA_KAFKA_VERSION; SARAMA_LOG=1 turns sarama's log on.
//
// Built by the test in GOPATH mode (GO111MODULE=off) against Debian's packages.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		die("json: %v", err)
	}
	fmt.Println(string(b))
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	// Sarama picks request versions from this, not from ApiVersions; 2.1
	// is the lowest that allows zstd. The default (0.8.2) would send
	// Fetch v0, which the broker does not serve (nor does Kafka 4).
	c.Version = sarama.V2_1_0_0
	if v := os.Getenv("SARAMA_KAFKA_VERSION"); v != "" {
		var err error
		if c.Version, err = sarama.ParseKafkaVersion(v); err != nil {
			die("SARAMA_KAFKA_VERSION: %v", err)
		}
	}
	c.ClientID = "strata-sarama-test"
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		die("not a number: %q", s)
	}
	return n
}

func key(i int) string   { return fmt.Sprintf("go-k%05d", i) }
func value(i int) string { return fmt.Sprintf("go-v%d-%s", i, strings.Repeat("0", i%50)) }

func produce(boot, topic string, n int, codec string, idempotent bool) {
	c := config()
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Flush.Messages = 100
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	switch codec {
	case "none":
		c.Producer.Compression = sarama.CompressionNone
	case "gzip":
		c.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		c.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		c.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		c.Producer.Compression = sarama.CompressionZSTD
	default:
		die("unknown codec %q", codec)
	}
	if idempotent {
		// InitProducerId, then every batch with its producer id and
		// sequence; sarama allows it with one request in flight only.
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	p, err := sarama.NewSyncProducer([]string{boot}, c)
	if err != nil {
		die("producer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(key(i)),
			Value: sarama.StringEncoder(value(i)),
			Headers: []sarama.RecordHeader{
				{Key: []byte("i"), Value: []byte(strconv.Itoa(i))}},
		}
	}
	if err := p.SendMessages(msgs); err != nil {
		die("send: %v", err)
	}
	// Each message now carries the partition and offset the broker gave.
	where := map[string][]int64{}
	for _, m := range msgs {
		k := strconv.Itoa(int(m.Partition))
		where[k] = append(where[k], m.Offset)
	}
	if err := p.Close(); err != nil {
		die("close: %v", err)
	}
	emit(map[string]interface{}{"produced": n, "offsets": where})
}

type record struct {
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Key       string `json:"k"`
	Value     string `json:"v"`
	Header    string `json:"h"`
}

// client connects and lists the topic's partitions.
func client(boot, topic string, c *sarama.Config) (sarama.Client, []int32) {
	cl, err := sarama.NewClient([]string{boot}, c)
	if err != nil {
		die("client: %v", err)
	}
	parts, err := cl.Partitions(topic)
	if err != nil {
		die("partitions: %v", err)
	}
	return cl, parts
}

func consume(boot, topic string, n int) {
	c := config()
	cl, parts := client(boot, topic, c)
	high := map[int32]int64{}
	for _, p := range parts {
		o, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			die("offset: %v", err)
		}
		high[p] = o
	}
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		die("consumer: %v", err)
	}
	out := make(chan record, n)
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			die("consume %d: %v", p, err)
		}
		go func(pc sarama.PartitionConsumer) {
			for m := range pc.Messages() {
				h := ""
				if len(m.Headers) == 1 {
					h = string(m.Headers[0].Key) + "=" + string(m.Headers[0].Value)
				}
				out <- record{m.Partition, m.Offset, string(m.Key), string(m.Value), h}
			}
		}(pc)
		go func(pc sarama.PartitionConsumer) {
			for e := range pc.Errors() {
				die("partition consumer: %v", e)
			}
		}(pc)
	}
	var got []record
	deadline := time.After(60 * time.Second)
	for len(got) < n {
		select {
		case r := <-out:
			got = append(got, r)
		case <-deadline:
			die("timed out with %d of %d records", len(got), n)
		}
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	hw := map[string]int64{}
	for p, o := range high {
		hw[strconv.Itoa(int(p))] = o
	}
	emit(map[string]interface{}{"records": got, "high": hw})
	cons.Close()
	cl.Close()
}

// member consumes its claims and counts the records (partition/offset) it
// saw; every message is marked, so the session commits them.
type member struct {
	mu    sync.Mutex
	seen  map[string]bool
	want  int
	done  chan struct{}
	once  sync.Once
	gens  map[int32]bool
	claim map[int32]bool
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.gens[s.GenerationID()] = true
	m.mu.Unlock()
	return nil
}
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m.mu.Lock()
		m.seen[fmt.Sprintf("%d/%d", msg.Partition, msg.Offset)] = true
		m.claim[msg.Partition] = true
		if len(m.seen) >= m.want {
			m.once.Do(func() { close(m.done) })
		}
		m.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

func group(boot, topic, gid string, n int) {
	c := config()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	// Both members share the counts: together they must see every record.
	shared := &member{seen: map[string]bool{}, want: n,
		done: make(chan struct{}), gens: map[int32]bool{},
		claim: map[int32]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	groups := make([]sarama.ConsumerGroup, 2)
	for i := range groups {
		g, err := sarama.NewConsumerGroup([]string{boot}, gid, c)
		if err != nil {
			die("group: %v", err)
		}
		groups[i] = g
		go func() {
			for e := range g.Errors() {
				die("group error: %v", e)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, shared); err != nil {
					die("consume: %v", err)
				}
			}
		}()
	}
	select {
	case <-shared.done:
	case <-time.After(90 * time.Second):
		shared.mu.Lock()
		die("timed out with %d of %d records", len(shared.seen), n)
	}
	// Let the marked offsets go out with the next commit, then leave.
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	for _, g := range groups {
		if err := g.Close(); err != nil {
			die("close: %v", err)
		}
	}

	adm, err := sarama.NewClusterAdmin([]string{boot}, c)
	if err != nil {
		die("admin: %v", err)
	}
	defer adm.Close()
	cl, parts := client(boot, topic, c)
	cl.Close()
	// OffsetFetch v1 (sarama's version here) has no "all topics" form:
	// name the partitions.
	off, err := adm.ListConsumerGroupOffsets(gid, map[string][]int32{topic: parts})
	if err != nil {
		die("offsets: %v", err)
	}
	committed := map[string]int64{}
	for _, b := range off.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			die("offset error: %v", b.Err)
		}
	}
	for p, b := range off.Blocks[topic] {
		committed[strconv.Itoa(int(p))] = b.Offset
	}
	groupsListed, err := adm.ListConsumerGroups()
	if err != nil {
		die("list groups: %v", err)
	}
	desc, err := adm.DescribeConsumerGroups([]string{gid})
	if err != nil {
		die("describe groups: %v", err)
	}
	emit(map[string]interface{}{
		"seen": len(shared.seen), "generations": len(shared.gens),
		"partitions": len(shared.claim), "committed": committed,
		"listed": groupsListed[gid], "state": desc[0].State,
		"members": len(desc[0].Members)})
}

// topicConfig is the value DescribeConfigs gives for one of the topic's
// configs ("" when it is not listed).
func topicConfig(adm sarama.ClusterAdmin, topic, name string) string {
	cfg, err := adm.DescribeConfig(sarama.ConfigResource{
		Type: sarama.TopicResource, Name: topic})
	if err != nil {
		die("describe config: %v", err)
	}
	for _, e := range cfg {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func admin(boot, topic string) {
	c := config()
	adm, err := sarama.NewClusterAdmin([]string{boot}, c)
	if err != nil {
		die("admin: %v", err)
	}
	defer adm.Close()
	retention := "3600000"
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3,
		ReplicationFactor: 1,
		ConfigEntries:     map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		die("create: %v", err)
	}
	again := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3,
		ReplicationFactor: 1}, false)
	topics, err := adm.ListTopics()
	if err != nil {
		die("list: %v", err)
	}
	got := topicConfig(adm, topic, "retention.ms")
	longer := "7200000"
	err = adm.AlterConfig(sarama.TopicResource, topic,
		map[string]*string{"retention.ms": &longer}, false)
	if err != nil {
		die("alter config: %v", err)
	}
	altered := topicConfig(adm, topic, "retention.ms")
	if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
		die("create partitions: %v", err)
	}
	meta, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		die("describe topics: %v", err)
	}
	// Metadata v0 (sarama sends no version here): no controller id.
	brokers, _, err := adm.DescribeCluster()
	if err != nil {
		die("describe cluster: %v", err)
	}

	// A few records on partition 0, then DeleteRecords up to offset 3.
	pc := config()
	pc.Producer.Return.Successes = true
	pc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{boot}, pc)
	if err != nil {
		die("producer: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic,
			Partition: 0, Value: sarama.StringEncoder(value(i))}); err != nil {
			die("send: %v", err)
		}
	}
	p.Close()
	if err := adm.DeleteRecords(topic, map[int32]int64{0: 3}); err != nil {
		die("delete records: %v", err)
	}
	cl, _ := client(boot, topic, c)
	start, err := cl.GetOffset(topic, 0, sarama.OffsetOldest)
	if err != nil {
		die("offset: %v", err)
	}
	cl.Close()

	if err := adm.DeleteTopic(topic); err != nil {
		die("delete: %v", err)
	}
	second := adm.DeleteTopic(topic)
	after, err := adm.ListTopics()
	if err != nil {
		die("list: %v", err)
	}
	_, listedAfter := after[topic]
	_, listed := topics[topic]
	emit(map[string]interface{}{
		"listed":            listed,
		"listedPartitions":  topics[topic].NumPartitions,
		"createAgain":       fmt.Sprint(again),
		"retention":         got,
		"retentionAltered":  altered,
		"partitionsAfter":   len(meta[0].Partitions),
		"brokers":           len(brokers),
		"startAfterDelete":  start,
		"secondDelete":      fmt.Sprint(second),
		"listedAfterDelete": listedAfter,
	})
}

func main() {
	a := os.Args[1:]
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	if len(a) < 1 {
		die("usage: sarama_client produce|consume|group|admin ...")
	}
	switch {
	case a[0] == "produce" && (len(a) == 5 || len(a) == 6 && a[5] == "idempotent"):
		produce(a[1], a[2], atoi(a[3]), a[4], len(a) == 6)
	case a[0] == "consume" && len(a) == 4:
		consume(a[1], a[2], atoi(a[3]))
	case a[0] == "group" && len(a) == 5:
		group(a[1], a[2], a[3], atoi(a[4]))
	case a[0] == "admin" && len(a) == 3:
		admin(a[1], a[2])
	default:
		die("bad arguments: %v", a)
	}
}
