"""AWS Fault Injection Service in the offline world: experiments that do what their actions say."""
