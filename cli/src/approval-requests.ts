// Reading and deciding ApprovalRequests as the user: the same JSON patch README documents for plain
// kubectl, so the webhook stamps the user's authenticated name and RBAC decides who may review.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ApprovalRequest } from '../../crds/types.ts';
import { GROUP, VERSION } from '../../crds/definitions.ts';
import { explainApiError, type KubeAccess } from './kube.ts';

const PLURAL = 'approvalrequests';
export type Decision = 'Approved' | 'Denied';

export function kubectlPatchCommand(name: string, namespace: string, decision: Decision, reason: string): string {
  const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision, reason } }]);
  return `kubectl patch approvalrequest ${name} -n ${namespace} --type=json -p '${patch.replace(/'/g, "'\\''")}'`;
}

export async function listApprovalRequests(kube: KubeAccess, allNamespaces: boolean): Promise<ApprovalRequest[]> {
  return (await listApprovalRequestsAt(kube, allNamespaces)).items;
}

/** The list and the resourceVersion it was read at, where a watch continues from. */
export async function listApprovalRequestsAt(kube: KubeAccess, allNamespaces: boolean): Promise<{ items: ApprovalRequest[]; resourceVersion: string }> {
  try {
    const list = (allNamespaces
      ? await kube.objects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
      : await kube.objects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: kube.namespace, plural: PLURAL })) as { items: ApprovalRequest[]; metadata?: { resourceVersion?: string } };
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  } catch (err) {
    throw explainApiError(err, `listing ApprovalRequests${allNamespaces ? '' : ` in namespace ${kube.namespace}`}`);
  }
}

export async function getApprovalRequest(kube: KubeAccess, name: string): Promise<ApprovalRequest> {
  try {
    return (await kube.objects.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: kube.namespace, plural: PLURAL, name })) as ApprovalRequest;
  } catch (err) {
    throw explainApiError(err, `reading ApprovalRequest ${kube.namespace}/${name}`);
  }
}

/**
 * Appends one review to the very request shown: guarded by its uid (a request deleted and created
 * again under the same name between showing and deciding is refused, not decided), and by
 * resourceVersion when the list has to be created first.
 */
export async function appendReview(kube: KubeAccess, request: ApprovalRequest, decision: Decision, reason: string): Promise<ApprovalRequest> {
  const review = { decision, reason };
  const same = request.metadata.uid === undefined ? [] : [{ op: 'test', path: '/metadata/uid', value: request.metadata.uid }];
  const ops = request.spec.reviews === undefined
    ? [...same, { op: 'test', path: '/metadata/resourceVersion', value: request.metadata.resourceVersion }, { op: 'add', path: '/spec/reviews', value: [review] }]
    : [...same, { op: 'add', path: '/spec/reviews/-', value: review }];
  try {
    return (await kube.objects.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: kube.namespace, plural: PLURAL, name: request.metadata.name, body: ops },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )) as ApprovalRequest;
  } catch (err) {
    throw explainApiError(err, `recording your ${decision === 'Approved' ? 'approval' : 'denial'} of ${kube.namespace}/${request.metadata.name}`);
  }
}

export function phaseOf(request: ApprovalRequest): string {
  return request.status?.phase ?? 'Pending';
}
