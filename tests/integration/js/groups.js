// kafkajs consumer groups against Strata: eachBatch consumers, commits,
// admin.describeGroups / fetchOffsets / deleteGroups.
//
// Driven by ../test_groups_kafkajs.py, which produces the data with
// librdkafka first and then runs
//   node groups.js split  <bootstrap> <topic> <group> <partitions> <count>
//   node groups.js resume <bootstrap> <topic> <group> <partitions> <expect>
// and parses the single JSON line printed on stdout. Any failure exits
// non-zero with the reason on stderr; every wait has a deadline.
//
// split: two consumers of one group read the topic with eachBatch
// (autoCommit: kafkajs commits the resolved offsets after every batch) until
// every message was seen and each member holds its share; then the script
// waits for fetchOffsets to show the end of every partition, describes the
// group, disconnects both members and describes it again. The Python side
// judges the numbers.
//
// resume: a new member of the same group reads what was produced since, and
// must start at the committed offsets (subscribe's fromBeginning only
// applies to partitions without a commit). Then the group is deleted, twice.
'use strict'

const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')

function fail(msg) {
    process.stderr.write('groups.js: ' + msg + '\n')
    process.exit(1)
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

// stdout to a pipe is asynchronous in Node: resolve once the line is out,
// so that the process.exit() in main() cannot cut it short.
function emit(obj) {
    return new Promise(resolve => process.stdout.write(JSON.stringify(obj) + '\n', resolve))
}

async function waitFor(what, timeoutMs, cond) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
        const v = await cond()
        if (v) return v
        if (Date.now() > deadline) fail(`${what}: not reached within ${timeoutMs} ms`)
        await sleep(50)
    }
}

function consumerOf(kafka, groupId) {
    return kafka.consumer({
        groupId,
        sessionTimeout: 10000,
        rebalanceTimeout: 10000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 100,
        allowAutoTopicCreation: false,
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    })
}

// One member: records every message handed to eachBatch and every join.
async function startMember(kafka, name, topic, groupId) {
    const m = { name, got: [], joins: [], crashes: [] }
    const c = consumerOf(kafka, groupId)
    m.consumer = c
    c.on(c.events.GROUP_JOIN, e => m.joins.push({
        memberId: e.payload.memberId,
        isLeader: e.payload.isLeader,
        assignment: e.payload.memberAssignment,
    }))
    c.on(c.events.CRASH, e => m.crashes.push(String(e.payload.error)))
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({
        autoCommit: true,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            for (const msg of batch.messages) {
                m.got.push([batch.partition, Number(msg.offset),
                            msg.value ? msg.value.toString() : null])
                resolveOffset(msg.offset)
            }
            await heartbeat()
        },
    })
    return m
}

function lastAssignment(m, topic) {
    if (m.joins.length === 0) return []
    return (m.joins[m.joins.length - 1].assignment[topic] || []).slice().sort((a, b) => a - b)
}

function describeOut(group) {
    return {
        errorCode: group.errorCode,
        state: group.state,
        protocolType: group.protocolType,
        protocol: group.protocol,
        members: group.members.map(mem => ({
            memberId: mem.memberId,
            clientId: mem.clientId,
            subscription: mem.memberMetadata && mem.memberMetadata.length
                ? AssignerProtocol.MemberMetadata.decode(mem.memberMetadata).topics
                : null,
            assignment: mem.memberAssignment && mem.memberAssignment.length
                ? AssignerProtocol.MemberAssignment.decode(mem.memberAssignment).assignment
                : null,
        })),
    }
}

async function describe(admin, groupId) {
    const { groups } = await admin.describeGroups([groupId])
    if (groups.length !== 1) fail(`describeGroups returned ${groups.length} groups`)
    return describeOut(groups[0])
}

async function committedOffsets(admin, groupId, topic) {
    const res = await admin.fetchOffsets({ groupId, topics: [topic] })
    const out = {}
    for (const t of res) {
        if (t.topic !== topic) continue
        for (const p of t.partitions) out[p.partition] = Number(p.offset)
    }
    return out
}

async function splitMode(kafka, topic, groupId, parts, count) {
    const per = count / parts
    const admin = kafka.admin()
    await admin.connect()
    const members = []
    try {
        members.push(await startMember(kafka, 'c1', topic, groupId))
        members.push(await startMember(kafka, 'c2', topic, groupId))
        const [a, b] = members
        await waitFor('both members read everything and hold two partitions', 60000, () => {
            for (const m of members) if (m.crashes.length) fail(`${m.name} crashed: ${m.crashes}`)
            const seen = new Set()
            for (const m of members) for (const [p, o] of m.got) seen.add(`${p}:${o}`)
            return seen.size >= count &&
                lastAssignment(a, topic).length === parts / 2 &&
                lastAssignment(b, topic).length === parts / 2
        })
        // autoCommit runs after each batch: the end of every partition.
        let offsets = null
        await waitFor('committed offsets reach the end', 20000, async () => {
            offsets = await committedOffsets(admin, groupId, topic)
            for (let p = 0; p < parts; p++) if (offsets[p] !== per) return false
            return true
        })
        await sleep(500) // late duplicates, if any, arrive now
        const stable = await describe(admin, groupId)
        // Taken before anyone leaves: the first to leave makes the other
        // rejoin and take every partition, if it is quick enough.
        const membersOut = members.map(m => ({
            name: m.name,
            received: m.got.length,
            offsets: m.got.map(([p, o]) => [p, o]),
            badValues: m.got.filter(([p, o, v]) => v !== String(o * parts + p)).length,
            joins: m.joins.slice(),
            assignment: lastAssignment(m, topic),
        }))

        for (const m of members) await m.consumer.disconnect()
        const afterLeave = await describe(admin, groupId)
        const out = {
            members: membersOut,
            committed: offsets,
            stable,
            afterLeave,
        }
        await emit(out)
    } finally {
        for (const m of members) await m.consumer.disconnect().catch(() => {})
        await admin.disconnect()
    }
}

async function resumeMode(kafka, topic, groupId, parts, expect) {
    const admin = kafka.admin()
    await admin.connect()
    let m = null
    try {
        m = await startMember(kafka, 'c3', topic, groupId)
        await waitFor('resuming member reads the new messages', 40000, () => {
            if (m.crashes.length) fail(`c3 crashed: ${m.crashes}`)
            return m.got.length >= expect
        })
        await sleep(700) // anything more is a re-delivery
        const byPart = {}
        for (const [p, o, v] of m.got) (byPart[p] = byPart[p] || []).push([o, v])
        await m.consumer.disconnect()

        const deleted = await admin.deleteGroups([groupId])
        let again = null
        try {
            await admin.deleteGroups([groupId])
        } catch (e) {
            again = e.groups ? e.groups.map(g => (g.error && g.error.type) || g.errorCode)
                             : [e.type || String(e)]
        }
        const afterDelete = await committedOffsets(admin, groupId, topic)
        await emit({
            byPartition: byPart,
            joins: m.joins,
            deleted: deleted.map(r => [r.groupId, r.errorCode]),
            deleteAgain: again,
            afterDelete,
        })
    } finally {
        if (m) await m.consumer.disconnect().catch(() => {})
        await admin.disconnect()
    }
}

async function main() {
    const [mode, bootstrap, topic, groupId, parts, count] = process.argv.slice(2)
    if (!mode || !bootstrap || !topic || !groupId || !parts || !count) {
        fail('usage: groups.js split|resume BOOTSTRAP TOPIC GROUP PARTITIONS COUNT')
    }
    const kafka = new Kafka({
        clientId: 'strata-it-kafkajs-groups',
        brokers: [bootstrap],
        logLevel: logLevel.WARN,
        connectionTimeout: 5000,
        requestTimeout: 15000,
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    })
    if (mode === 'split') await splitMode(kafka, topic, groupId, Number(parts), Number(count))
    else if (mode === 'resume') await resumeMode(kafka, topic, groupId, Number(parts), Number(count))
    else fail(`unknown mode ${mode}`)
}

main().then(() => process.exit(0), e => fail(e && e.stack ? e.stack : String(e)))
