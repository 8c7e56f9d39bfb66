// kafkajs admin calls against the broker, for test_admin.py: describe a
// topic's configs (DescribeConfigs v2), alter them (AlterConfigs v1),
// describe them again, grow the topic (CreatePartitions v1), read the
// cluster (Metadata), and delete the first records of partition 0
// (DeleteRecords), also past its end. Prints one JSON line with what it saw.
//
// Usage: node admin.js BOOTSTRAP TOPIC (the topic exists, 1 partition)
'use strict';

const { Kafka, ConfigResourceTypes, logLevel } = require('kafkajs');

// A protocol error's Kafka name, also inside kafkajs's aggregate errors.
function errorType(e) {
    if (e.type) return e.type;
    if (e.errors && e.errors.length && e.errors[0].type) {
        return e.errors[0].type;
    }
    return e.name;
}

function configs(res) {
    const out = {};
    for (const e of res.resources[0].configEntries) {
        out[e.configName] = {
            value: e.configValue,
            source: e.configSource,
            readOnly: e.readOnly,
            synonyms: e.configSynonyms.map((s) => s.configName),
        };
    }
    return out;
}

async function main() {
    const [bootstrap, topic] = process.argv.slice(2);
    const kafka = new Kafka({
        clientId: 'strata-it-admin',
        brokers: [bootstrap],
        logLevel: logLevel.NOTHING,
        retry: { retries: 2 },
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
        const resource = { type: ConfigResourceTypes.TOPIC, name: topic };
        const before = configs(await admin.describeConfigs({
            resources: [resource], includeSynonyms: true,
        }));
        await admin.alterConfigs({
            resources: [{
                ...resource,
                configEntries: [
                    { name: 'retention.ms', value: '7200000' },
                    { name: 'segment.bytes', value: '1048576' },
                ],
            }],
        });
        const after = configs(await admin.describeConfigs({
            resources: [resource], includeSynonyms: false,
        }));
        let alterError = null;
        try {
            await admin.alterConfigs({
                resources: [{
                    ...resource,
                    configEntries: [
                        { name: 'min.insync.replicas', value: '2' },
                    ],
                }],
            });
        } catch (e) {
            alterError = errorType(e);
        }
        await admin.createPartitions({
            topicPartitions: [{ topic, count: 3 }],
        });
        const md = await admin.fetchTopicMetadata({ topics: [topic] });
        let partitionsError = null;
        try {
            await admin.createPartitions({
                topicPartitions: [{ topic, count: 2 }],
            });
        } catch (e) {
            partitionsError = errorType(e);
        }
        const cluster = await admin.describeCluster();
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
            topic,
            messages: Array.from({ length: 10 }, (_, i) => ({
                partition: 0, value: `m${i}`,
            })),
        });
        await producer.disconnect();
        await admin.deleteTopicRecords({
            topic, partitions: [{ partition: 0, offset: '4' }],
        });
        const offsets = await admin.fetchTopicOffsets(topic);
        const p0 = offsets.find((o) => o.partition === 0);
        let deleteError = null;
        try {
            await admin.deleteTopicRecords({
                topic, partitions: [{ partition: 0, offset: '11' }],
            });
        } catch (e) {
            // kafkajs's retrier rethrows the per-partition error as a
            // KafkaJSNonRetriableError keeping only its message
            deleteError = e.message;
        }
        console.log(JSON.stringify({
            before, after, alterError, partitionsError,
            deleted: { low: p0.low, high: p0.high }, deleteError,
            partitions: md.topics[0].partitions.length,
            controller: cluster.controller,
            brokers: cluster.brokers.length,
        }));
    } finally {
        await admin.disconnect();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
