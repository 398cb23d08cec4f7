// The reference side of the dns-filter differential test: tsurlfilter's DNS engine.
// stdin: {"rules": "<list text>", "queries": [["name", "A" | null], ...]}
// stdout: one JSON array, per query {blocked, basic, network, hosts}:
//   basic   - the text of the network rule DnsEngine decides with (null if none),
//   network - the texts of every host-level network rule matching (NetworkEngine.matchAll,
//             before $badfilter removal),
//   hosts   - the texts of the hosts rules matching (DnsEngine looks at them only when no
//             network rule decided; reported here in every case).
import { DnsEngine, RuleStorage, StringRuleList, Request, RequestType, HostRule, fastHash } from '@adguard/tsurlfilter';
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const LIST = 1;
const storage = new RuleStorage([new StringRuleList(LIST, input.rules, true, true, false)]);
const engine = new DnsEngine(storage);
const text = (rule) => storage.retrieveRuleText(LIST, rule.getIndex());

const out = input.queries.map(([name, qtype]) => {
    const url = `http://${name}/`;
    const request = new Request(url, url, RequestType.Document);
    request.isHostnameRequest = true;
    if (qtype) request.dnsType = qtype;
    // DnsEngine.match(hostname) with the request's DNS type set (it builds the same request
    // without one).
    const basic = engine.networkEngine.match(request);
    const network = engine.networkEngine.matchAll(request).map(text);
    const hosts = [];
    for (const idx of engine.lookupTable.get(fastHash(name)) ?? []) {
        const rule = storage.retrieveHostRule(idx);
        if (rule && rule.match(name)) hosts.push(text(rule));
    }
    const blocked = basic ? !basic.isAllowlist() : hosts.length > 0;
    return { blocked, basic: basic ? text(basic) : null, network, hosts };
});
process.stdout.write(JSON.stringify(out));
