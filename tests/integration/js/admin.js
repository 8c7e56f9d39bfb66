// kafkajs admin calls against the broker, for test_admin.py: describe a
// topic's configs (DescribeConfigs v2), alter them (AlterConfigs v1),
// describe them again, grow the topic (CreatePartitions v1), and read the
// cluster (Metadata). Prints one JSON line with what it saw.
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
        console.log(JSON.stringify({
            before, after, alterError, partitionsError,
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
