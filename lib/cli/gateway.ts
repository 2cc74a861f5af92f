/** Placeholder: the HTTP gateway command is written on another branch and replaces this file at merge. */
export async function gatewayCommand(_argv: string[]): Promise<void> {
  throw new Error('the gateway is not built yet');
}
