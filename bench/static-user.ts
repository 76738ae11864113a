/** What the baselines' static `hello` resolver returns: the same caller the product greets. */
export const STATIC_USER = {
  username: 'ada@contoso.example',
  employeeId: 'E-1815',
  scopes: ['access_as_user'],
  roles: [],
  name: 'Ada Lovelace',
  tenantId: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
  objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
  kind: 'USER',
  isGuest: false,
  message: 'Hello World! You are authenticated.',
};
