/** The API server's own answer to whether a user may do something: a SubjectAccessReview, sent as the caller. */
import type * as k8s from '@kubernetes/client-node';
import type { RawKubeClient } from './raw-client.js';

export function createSubjectAccessReview(api: RawKubeClient, spec: k8s.V1SubjectAccessReviewSpec): Promise<k8s.V1SubjectAccessReview> {
  return api.create<k8s.V1SubjectAccessReview>('/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
}
