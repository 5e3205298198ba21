import { formatIp } from '../../../base/index.js';
import { SERVICE_NAME_LABEL } from '../../objects.js';
import { resolveNode } from './model.js';
import type { GenerateInput } from './types.js';

/**
 * A key of everything about a node that kube-proxy's iptables output depends on, given the cluster's
 * Services and EndpointSlices: two nodes with equal keys get the same payload, jump rules and
 * sysctls (only the node name in the provenance of kube-proxy's own rules differs). A cluster of
 * 1,000 nodes whose Services use no node-local policy then generates its rules once, not 1,000 times.
 *
 * What the generator reads of a node (model.ts, generate.ts): the resolved configuration (local
 * detector, NodePort addresses, masquerade bit, zone, …); the node name only to tell which
 * endpoints are local (EpInfo.isLocal, read by categorizeEndpoints for Services with a Local
 * traffic policy) and which carry a `forNodes` hint naming it; the node IP only against
 * loadBalancerSourceRanges. The key holds exactly those, conservatively: every local endpoint of a
 * Service with any Local policy, every hint naming the node, the node IP when any Service has
 * source ranges.
 */
export function nodeOutputKey(input: GenerateInput): string {
  return new NodeOutputKeys(input.services, input.endpointSlices).key(input.node, input.family);
}

/** nodeOutputKey for many nodes of one cluster: the Services and EndpointSlices are read once. */
export class NodeOutputKeys {
  /** Per node name: the endpoints whose locality or hints make its output differ. */
  private readonly byNode = new Map<string, string[]>();
  private readonly sourceRanges: boolean;

  constructor(services: GenerateInput['services'], endpointSlices: GenerateInput['endpointSlices']) {
    const localPolicy = new Set<string>();
    let sourceRanges = false;
    for (const s of services) {
      if (s.spec.externalTrafficPolicy === 'Local' || s.spec.internalTrafficPolicy === 'Local') localPolicy.add(`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`);
      if (s.spec.loadBalancerSourceRanges?.length) sourceRanges = true;
    }
    this.sourceRanges = sourceRanges;
    const add = (node: string, entry: string): void => {
      const l = this.byNode.get(node);
      if (l) l.push(entry);
      else this.byNode.set(node, [entry]);
    };
    for (const slice of endpointSlices) {
      const ns = slice.metadata.namespace ?? 'default';
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      const local = svc !== undefined && localPolicy.has(`${ns}/${svc}`);
      for (const ep of slice.endpoints) {
        const where = `${ns}/${slice.metadata.name}|${ep.addresses.join(',')}`;
        for (const h of ep.hints?.forNodes ?? []) add(h.name, `${where}|hint`);
        if (local && ep.nodeName) add(ep.nodeName, `${where}|local`);
      }
    }
  }

  key(node: GenerateInput['node'], family: GenerateInput['family']): string {
    const r = resolveNode(node, family);
    const parts: string[] = [
      String(family),
      r.masqueradeMark,
      String(r.masqueradeAll),
      String(r.localhostNodePorts),
      String(r.largeClusterThreshold),
      String(r.conntrackTCPLiberal),
      String(r.randomFully),
      String(r.nfacctCtStateInvalid),
      String(r.nfacctLocalhostNodePorts),
      r.ifLocalText,
      r.ifNotLocalText,
      r.detectorText,
      String(r.nodePortMatchAll),
      // the node's own IPs matter only when NodePorts are not matched by `--dst-type LOCAL` (natTail)
      r.nodePortMatchAll ? '' : r.nodePortIPs.map(formatIp).join(','),
      r.nodePortAddressesText,
      r.zone,
      String(r.preferSameTrafficDistribution),
      String(r.cpus),
    ];
    if (this.sourceRanges) parts.push(`nodeIP=${r.nodeIP ? formatIp(r.nodeIP) : ''}`);
    if (r.nodeName.length > 0) parts.push(...(this.byNode.get(r.nodeName) ?? []));
    return parts.join('\n');
  }
}
