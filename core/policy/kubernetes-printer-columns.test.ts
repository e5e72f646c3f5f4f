// The static map of built-in printer columns to the fields they show (round 11b review, finding 2).
import { describe, expect, it } from '@jest/globals';
import { anyPrinterFields, groupResource, isBuiltinGroup, PRINTER_COLUMNS, printerColumns, SAFE_COLUMNS } from './kubernetes-printer-columns.ts';

describe('PRINTER_COLUMNS', () => {
  it('names each column\'s fields by JSON keys (camelCase, no paths), and every printer but a few shows Name', () => {
    for (const [resource, columns] of Object.entries(PRINTER_COLUMNS)) {
      for (const [column, keys] of Object.entries(columns)) {
        for (const key of keys) expect({ resource, column, key, ok: /^[a-z][A-Za-z]*$/.test(key) }).toEqual({ resource, column, key, ok: true });
      }
      expect({ resource, name: columns.Name }).toEqual({ resource, name: ['name'] });
    }
  });

  it.each([
    ['certificates.k8s.io', 'certificatesigningrequests', 'Requestor', ['username']],
    ['coordination.k8s.io', 'leases', 'Holder', ['holderIdentity']],
    ['rbac.authorization.k8s.io', 'rolebindings', 'Users', ['subjects', 'name']],
    ['rbac.authorization.k8s.io', 'clusterrolebindings', 'ServiceAccounts', ['subjects', 'namespace', 'name']],
    ['', 'pods', 'IP', ['podIP', 'podIPs', 'ip']],
    ['', 'pods', 'Node', ['nodeName']],
    ['', 'pods', 'Nominated Node', ['nominatedNodeName']],
    ['', 'events', 'Message', ['message', 'note']],
    ['events.k8s.io', 'events', 'Message', ['message', 'note']],
    ['', 'nodes', 'Internal-IP', ['addresses', 'address']],
    ['', 'services', 'External-IP', ['externalIPs', 'externalName', 'ip', 'hostname']],
    ['', 'persistentvolumes', 'Claim', ['claimRef', 'namespace', 'name']],
    ['', 'componentstatuses', 'Message', ['message']],
    ['apps', 'deployments', 'Images', ['image']],
  ])('%s %s: %s ← %j', (group, resource, column, keys) => {
    expect(printerColumns(group, resource)?.[column]).toEqual(keys);
  });

  it('status shares its resource\'s printer; scale has its own; other subresources and unknown resources have none', () => {
    expect(printerColumns('coordination.k8s.io', 'leases', 'status')).toBe(PRINTER_COLUMNS['leases.coordination.k8s.io']);
    expect(printerColumns('apps', 'deployments', 'scale')?.Desired).toEqual(['replicas']);
    expect(printerColumns('', 'pods', 'ephemeralcontainers')).toBeUndefined();
    expect(printerColumns('apps', 'newthings')).toBeUndefined();
    expect(printerColumns('', 'constructor')).toBeUndefined();
    expect(printerColumns('', '__proto__')).toBeUndefined();
  });
});

describe('groups, names and the safe columns', () => {
  it('group/resource as Kubernetes writes it', () => {
    expect(groupResource('', 'pods')).toBe('pods');
    expect(groupResource('coordination.k8s.io', 'leases')).toBe('leases.coordination.k8s.io');
  });
  it.each([['', true], ['apps', true], ['certificates.k8s.io', true], ['events.k8s.io', true], ['apiregistration.k8s.io', true], ['r11b.guarita.example', false], ['metrics.k8s.io', false], ['k8s.io', false]])('%j built-in: %s', (group, builtin) => {
    expect(isBuiltinGroup(group)).toBe(builtin);
  });
  it('any printer\'s fields by column name (a Table whose resource is not known): the union, never less', () => {
    expect(anyPrinterFields('Requestor')).toEqual(['username']);
    expect(anyPrinterFields('Node')).toEqual(expect.arrayContaining(['nodeName']));
    expect(anyPrinterFields('Message')).toEqual(expect.arrayContaining(['message', 'note']));
    expect(anyPrinterFields('Não existe')).toEqual([]);
  });
  it('the safe columns show computed counts, times and states only', () => {
    expect([...SAFE_COLUMNS].sort()).toEqual(['Age', 'Available', 'Created At', 'Current', 'Desired', 'Name', 'Ready', 'Restarts', 'Status', 'Up-to-date']);
  });
});
