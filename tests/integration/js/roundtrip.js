// kafkajs against Strata: admin create/list/delete, produce, and read back.
//
// Driven by ../test_kafkajs.py, which runs
//   node roundtrip.js produce <bootstrap> <topic> <count>
//   node roundtrip.js delete  <bootstrap> <topic>
//   node roundtrip.js idempotent <bootstrap> <topic> <count>
// and parses the single JSON line printed on stdout. Any failure exits
// non-zero with the reason on stderr.
//
// kafkajs has no public consumer without consumer groups, and consumer
// groups are not part of this issue, so the read-back uses kafkajs's own
// Cluster/Broker classes (src/cluster, pinned by package-lock.json) to send
// Fetch and decode the answer: that still checks that kafkajs's decoder
// accepts what Strata sends. The Python test also reads the data with
// librdkafka.
// Group consumption (consumer.run()) is tested by groups.js.
'use strict'

const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const PARTITIONS = 2

function fail(msg) {
    process.stderr.write('roundtrip.js: ' + msg + '\n')
    process.exit(1)
}

function expectEq(got, want, what) {
    const g = JSON.stringify(got)
    const w = JSON.stringify(want)
    if (g !== w) fail(`${what}: got ${g.slice(0, 400)} want ${w.slice(0, 400)}`)
}

// Message i: deterministic key/value the Python side recomputes.
function message(i) {
    return {
        key: `js-k${String(i).padStart(5, '0')}`,
        value: `js-v${i}-é-${'y'.repeat(i % 40)}`,
        partition: i % PARTITIONS,
    }
}

function privateCluster(kafka) {
    const sym = Object.getOwnPropertySymbols(kafka).find(
        s => s.description === 'private:Kafka:createCluster')
    if (!sym) fail('kafkajs internals changed: no createCluster symbol')
    return kafka[sym]({ metadataMaxAge: 300000 })
}

async function fetchAll(kafka, topic, count) {
    const cluster = privateCluster(kafka)
    await cluster.connect()
    try {
        await cluster.addTargetTopic(topic)
        await cluster.refreshMetadata()
        const out = {}
        for (let p = 0; p < PARTITIONS; p++) {
            out[p] = []
            const leaders = cluster.findLeaderForPartitions(topic, [p])
            const nodeId = Object.keys(leaders)[0]
            const broker = await cluster.findBroker({ nodeId })
            const want = Math.ceil((count - p) / PARTITIONS)
            const deadline = Date.now() + 30000
            while (out[p].length < want) {
                if (Date.now() > deadline) fail(`fetch p${p}: timed out`)
                const offset = out[p].length
                const res = await broker.fetch({
                    replicaId: -1, isolationLevel: 0, maxWaitTime: 100,
                    minBytes: 1, maxBytes: 10485760,
                    topics: [{
                        topic,
                        partitions: [{ partition: p, fetchOffset: String(offset),
                                       maxBytes: 1048576 }],
                    }],
                })
                const part = res.responses[0].partitions[0]
                if (part.errorCode !== 0) fail(`fetch p${p}: error ${part.errorCode}`)
                for (const m of part.messages) {
                    if (Number(m.offset) < offset) continue // batch start
                    out[p].push({
                        offset: Number(m.offset),
                        key: m.key ? m.key.toString() : null,
                        value: m.value ? m.value.toString() : null,
                    })
                }
            }
        }
        return out
    } finally {
        await cluster.disconnect()
    }
}

// Fetches the topic and checks it holds messages 0..count-1, spread over
// the partitions as message() spreads them, in order. Returns what it read.
async function expectAll(kafka, topic, count) {
    const got = await fetchAll(kafka, topic, count)
    for (let p = 0; p < PARTITIONS; p++) {
        const want = []
        for (let i = p; i < count; i += PARTITIONS) {
            const m = message(i)
            want.push({ offset: want.length, key: m.key, value: m.value })
        }
        expectEq(got[p], want, `fetched partition ${p}`)
    }
    return got
}

async function createTopic(admin, topic) {
    const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    })
    if (created !== true) fail(`createTopics returned ${created}`)
}

async function produceMode(kafka, topic, count) {
    const admin = kafka.admin()
    await admin.connect()
    try {
        await createTopic(admin, topic)
        const again = await admin.createTopics({
            topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
        })
        if (again !== false) fail('createTopics of an existing topic returned true')
        const topics = await admin.listTopics()
        if (!topics.includes(topic)) fail(`listTopics lacks ${topic}: ${topics}`)

        const producer = kafka.producer({ allowAutoTopicCreation: false })
        await producer.connect()
        const half = Math.floor(count / 2)
        const firstOffsets = []
        try {
            // Two halves: uncompressed, then gzip (kafkajs's built-in codec).
            for (const [from, to, compression] of [
                [0, half, CompressionTypes.None],
                [half, count, CompressionTypes.GZIP]]) {
                for (let i = from; i < to; i += 100) {
                    const batch = []
                    for (let j = i; j < Math.min(i + 100, to); j++) batch.push(message(j))
                    const meta = await producer.send({ topic, acks: -1, compression,
                                                       messages: batch })
                    for (const m of meta) {
                        if (m.errorCode !== 0) fail(`produce error ${m.errorCode}`)
                        firstOffsets.push([m.partition, Number(m.baseOffset)])
                    }
                }
            }
        } finally {
            await producer.disconnect()
        }

        const got = await expectAll(kafka, topic, count)

        const offsets = await admin.fetchTopicOffsets(topic)
        offsets.sort((a, b) => a.partition - b.partition)
        expectEq(offsets.map(o => [o.partition, Number(o.low), Number(o.high)]),
                 [...Array(PARTITIONS).keys()].map(
                     p => [p, 0, got[p].length]), 'fetchTopicOffsets')

        const md = await admin.fetchTopicMetadata({ topics: [topic] })
        expectEq(md.topics[0].partitions.length, PARTITIONS, 'partition count')

        process.stdout.write(JSON.stringify({
            topic, produced: count, partitions: PARTITIONS,
            sendResults: firstOffsets.length,
        }) + '\n')
    } finally {
        await admin.disconnect()
    }
}

// An idempotent producer (InitProducerId, then batches carrying its id,
// epoch and per-partition sequences), in two sessions: each gets its own
// producer id. The batches' fields are checked by the Python side.
async function idempotentMode(kafka, topic, count) {
    const admin = kafka.admin()
    await admin.connect()
    try {
        await createTopic(admin, topic)
    } finally {
        await admin.disconnect()
    }
    const half = Math.floor(count / 2)
    for (const [from, to] of [[0, half], [half, count]]) {
        const producer = kafka.producer({ allowAutoTopicCreation: false,
                                          idempotent: true,
                                          maxInFlightRequests: 1 })
        await producer.connect()
        try {
            for (let i = from; i < to; i += 50) {
                const batch = []
                for (let j = i; j < Math.min(i + 50, to); j++) batch.push(message(j))
                const meta = await producer.send({ topic, acks: -1, messages: batch })
                for (const m of meta)
                    if (m.errorCode !== 0) fail(`produce error ${m.errorCode}`)
            }
        } finally {
            await producer.disconnect()
        }
    }
    await expectAll(kafka, topic, count)
    process.stdout.write(JSON.stringify({ topic, produced: count }) + '\n')
}

async function deleteMode(kafka, topic) {
    const admin = kafka.admin()
    await admin.connect()
    try {
        await admin.deleteTopics({ topics: [topic], timeout: 10000 })
        const deadline = Date.now() + 10000
        for (;;) {
            const topics = await admin.listTopics()
            if (!topics.includes(topic)) break
            if (Date.now() > deadline) fail(`${topic} still listed after delete`)
            await new Promise(r => setTimeout(r, 100))
        }
        let err = null
        try {
            await admin.deleteTopics({ topics: [topic], timeout: 5000 })
        } catch (e) {
            err = e
        }
        const type = err && (err.type || (err.cause && err.cause.type))
        process.stdout.write(JSON.stringify({ deleted: topic,
                                              secondDeleteError: type || null }) + '\n')
    } finally {
        await admin.disconnect()
    }
}

async function main() {
    const [mode, bootstrap, topic, count] = process.argv.slice(2)
    if (!mode || !bootstrap || !topic) fail('usage: roundtrip.js produce|delete|idempotent BOOTSTRAP TOPIC [COUNT]')
    const kafka = new Kafka({
        clientId: 'strata-it-kafkajs',
        brokers: [bootstrap],
        logLevel: logLevel.ERROR,
        connectionTimeout: 5000,
        requestTimeout: 15000,
        retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    })
    if (mode === 'produce') await produceMode(kafka, topic, Number(count || 1000))
    else if (mode === 'delete') await deleteMode(kafka, topic)
    else if (mode === 'idempotent') await idempotentMode(kafka, topic, Number(count || 1000))
    else fail(`unknown mode ${mode}`)
}

main().catch(e => fail(e && e.stack ? e.stack : String(e)))
